import type { RedisClient } from '../../redis/redis-client.js';

/**
 * On a Redis Cluster, a schedule's last tick lives in the hash of its task's class (keys.ts
 * schedulesLastOf), where "0\t" marks a live schedule not fired yet: the submit script records a
 * tick only for a schedule found there (src/store/lua/tasks/submit-class-tasks.lua).
 */
export const NO_TICK_YET = '0\t';

/** Marks schedule `scheduleId` live in the last-tick hash `lastKey`, unless it has an entry there (HSETNX). */
export function markScheduleLive(redis: RedisClient): (lastKey: string, scheduleId: string) => Promise<void> {
  return async (lastKey, scheduleId) => {
    await redis.hsetnx(lastKey, scheduleId, NO_TICK_YET);
  };
}

/**
 * Moves schedule `scheduleId`'s last tick from hash `fromKey` to `toKey` (its task changed class):
 * copied unless the new hash has one, then removed from the old. Two slots, so two steps: a crash
 * in between leaves it in both, and the old class's entry is never read again.
 */
export function moveScheduleTick(redis: RedisClient): (fromKey: string, toKey: string, scheduleId: string) => Promise<void> {
  return async (fromKey, toKey, scheduleId) => {
    const last = await redis.hget(fromKey, scheduleId);
    if (last) await redis.hsetnx(toKey, scheduleId, last);
    await redis.hdel(fromKey, scheduleId);
  };
}
