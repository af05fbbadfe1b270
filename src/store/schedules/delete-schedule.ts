import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';

/**
 * Removes schedule `scheduleId`'s record and its last-submission entry together (MULTI); true
 * when the schedule existed. A tick that lands after finds no record and submits nothing.
 */
export function deleteSchedule(redis: RedisClient, keys: Keys): (scheduleId: string) => Promise<boolean> {
  return async (scheduleId) => {
    const [[, removed]] = (await redis.multi().hdel(keys.schedules, scheduleId).hdel(keys.schedulesLast, scheduleId).exec()) as [
      [unknown, number],
      [unknown, number],
    ];
    return Boolean(removed);
  };
}
