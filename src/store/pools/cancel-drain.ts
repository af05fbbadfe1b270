import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';

/**
 * Clears the drain asked of pool `poolId` and publishes its id on the drain channel, together
 * (MULTI): the pool reads no drain back and takes tasks again.
 */
export function cancelDrain(redis: RedisClient, keys: Keys): (poolId: string) => Promise<void> {
  return async (poolId) => {
    await redis.multi().hdel(keys.poolDrain, poolId).publish(keys.poolDrainChannel, poolId).exec();
  };
}
