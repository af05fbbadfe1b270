import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';

/**
 * Removes schedule `scheduleId`'s record and its last-submission entry, kept in `lastKey`
 * (keys.ts schedulesLastOf its task's class; on a cluster one per partition of it: `lastKeys`); true when the schedule existed. On a single Redis
 * both go in one MULTI; on a cluster, where the entry is in its class's slot, the record goes
 * first. A tick that lands after finds no record and submits nothing.
 */
export function deleteSchedule(redis: RedisClient, keys: Keys): (scheduleId: string, lastKeys: readonly string[]) => Promise<boolean> {
  return async (scheduleId, lastKeys) => {
    if (keys.cluster) {
      const removed = await redis.hdel(keys.schedules, scheduleId);
      await Promise.all(lastKeys.map((k) => redis.hdel(k, scheduleId)));
      return removed > 0;
    }
    const [[, removed]] = (await redis.multi().hdel(keys.schedules, scheduleId).hdel(lastKeys[0]!, scheduleId).exec()) as [
      [unknown, number],
      [unknown, number],
    ];
    return Boolean(removed);
  };
}
