import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';

/**
 * Stores the drain asked of pool `poolId` ("stay" or "exit") in the drain hash and publishes the
 * pool id on the drain channel, together (MULTI): the pool applies it at once from the message,
 * or, having missed it, at its next heartbeat (pool-heartbeat.ts) from the hash.
 */
export function requestDrain(redis: RedisClient, keys: Keys): (poolId: string, mode: 'stay' | 'exit') => Promise<void> {
  return async (poolId, mode) => {
    await redis.multi().hset(keys.poolDrain, poolId, mode).publish(keys.poolDrainChannel, poolId).exec();
  };
}
