import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';

/**
 * Removes schedule `scheduleId`'s record and its last-submission entry, kept in `lastKey`
 * (keys.ts schedulesLastOf its task's class); true when the schedule existed. On a single Redis
 * both go in one MULTI; on a cluster, where the entry is in its class's slot, the record goes
 * first. A tick that lands after finds no record and submits nothing.
 */
export function deleteSchedule(redis: RedisClient, keys: Keys): (scheduleId: string, lastKey: string) => Promise<boolean> {
  return async (scheduleId, lastKey) => {
    if (keys.cluster) {
      const removed = await redis.hdel(keys.schedules, scheduleId);
      await redis.hdel(lastKey, scheduleId);
      return removed > 0;
    }
    const [[, removed]] = (await redis.multi().hdel(keys.schedules, scheduleId).hdel(lastKey, scheduleId).exec()) as [[unknown, number], [unknown, number]];
    return Boolean(removed);
  };
}
