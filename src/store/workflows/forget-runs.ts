import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';

/**
 * Drops runs from the run index (ZREM on `{orq}:runs:index`): for runs whose keys are gone
 * (expired after workflows.runRetentionMs), so the index keeps only the runs kept. Nothing for
 * an empty list (ZREM needs a member).
 */
export function forgetRuns(redis: RedisClient, keys: Keys): (runIds: readonly string[]) => Promise<void> {
  return async (runIds) => {
    if (runIds.length) await redis.zrem(keys.runIndex, ...runIds);
  };
}
