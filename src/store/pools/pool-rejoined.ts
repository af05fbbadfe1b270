import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';

/**
 * A pool starting under id `poolId` forgets what the id's previous life left (MULTI): the drain
 * asked of it (a restart serves again) and the stop time in its facts hash.
 */
export function poolRejoined(redis: RedisClient, keys: Keys): (poolId: string) => Promise<void> {
  return async (poolId) => {
    await redis.multi().hdel(keys.poolDrain, poolId).hdel(keys.pool(poolId), 'stopped').exec();
  };
}
