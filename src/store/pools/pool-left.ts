import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';

/**
 * Pool `poolId` leaves cleanly, in one MULTI: out of the pools zset, into the gone zset scored
 * by `nowMs` (listed as stopped for `goneListedMs`, src/pools/pool-registry.ts), its facts marked
 * stopped with nothing busy and expiring after `goneListedMs`, and its drain request cleared.
 */
export function poolLeft(redis: RedisClient, keys: Keys): (poolId: string, nowMs: number, goneListedMs: number) => Promise<void> {
  return async (poolId, nowMs, goneListedMs) => {
    await redis
      .multi()
      .zrem(keys.pools, poolId)
      .zadd(keys.poolsGone, nowMs, poolId)
      .hset(keys.pool(poolId), { stopped: String(nowMs), busy: '0' })
      .pexpire(keys.pool(poolId), goneListedMs)
      .hdel(keys.poolDrain, poolId)
      .exec();
  };
}
