import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';

/**
 * Sets a class's per-pool concurrency override in the limits hash (HSET class -> n; 0 removes
 * it with HDEL, so pools fall back to their configured concurrency) and announces the class on
 * the limits channel, in one MULTI: pools that start later read the hash, running ones re-read
 * it when they hear the class, and neither can happen without the other.
 */
export function setPoolConcurrency(redis: RedisClient, keys: Keys): (taskClass: string, poolConcurrency: number) => Promise<void> {
  return async (taskClass, poolConcurrency) => {
    const tx = redis.multi();
    if (poolConcurrency === 0) tx.hdel(keys.limits, taskClass);
    else tx.hset(keys.limits, taskClass, poolConcurrency);
    await tx.publish(keys.limitsChannel, taskClass).exec();
  };
}
