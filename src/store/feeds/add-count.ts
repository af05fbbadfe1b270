import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';

/** The counts bumped outside a script (the others are kept by the scripts that end a task). */
export type PlainCount = 'retried' | 'timed_out';

/**
 * Adds one to a cluster-wide count in its class's counters hash (HINCRBY of field `<kind>:<class>`).
 */
export function addCount(redis: RedisClient, keys: Keys): (kind: PlainCount, taskClass: string, taskId: string) => Promise<void> {
  return async (kind, taskClass, taskId) => {
    await redis.hincrby(keys.countersOf(taskClass, keys.partitionOf(taskClass, taskId)), `${kind}:${taskClass}`, 1);
  };
}
