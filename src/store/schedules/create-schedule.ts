import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';

/**
 * Writes `record` as schedule `scheduleId`'s only if it has none (HSETNX on the schedules hash);
 * true when written. One command, so no script.
 */
export function createSchedule(redis: RedisClient, keys: Keys): (scheduleId: string, record: string) => Promise<boolean> {
  return async (scheduleId, record) => (await redis.hsetnx(keys.schedules, scheduleId, record)) === 1;
}
