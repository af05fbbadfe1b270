import type { RedisClient } from '../../redis/redis-client.js';
import { retryWhileSlotMoves } from '../../redis/slot-moving.js';
import type { Keys } from '../keys.js';

export interface PoolBeat {
  /** The beat's time (ms): the pool's score in the pools zset. */
  nowMs: number;
  /** The pool's facts hash fields (src/pools/pool-facts.ts encodes and validates them). */
  facts: Record<string, string>;
  /** How long stopped and lost pools stay listed (pool.goneListedMs). */
  goneListedMs: number;
  /** pool.heartbeatMs: a pool silent for three of them is lost. */
  heartbeatMs: number;
}

/**
 * One heartbeat of pool `poolId`, in one round trip (MULTI): scores it in the pools zset, writes
 * its facts, keeps them past the three beats that make it lost (for ListPools to show what it
 * was), trims pools gone longer than `goneListedMs` from both pool zsets, and reads back the
 * drain asked of it. Resolves to that drain as stored ("stay", "exit", anything a hostile
 * writer left: the caller checks), null when none is asked, undefined when the transaction gave
 * no answer (the caller then changes nothing: no answer is not "resumed").
 */
export function poolHeartbeat(redis: RedisClient, keys: Keys): (poolId: string, beat: PoolBeat) => Promise<string | null | undefined> {
  return async (poolId, { nowMs, facts, goneListedMs, heartbeatMs }) => {
    // On a Redis Cluster whose slot is being moved the transaction is aborted whole (TRYAGAIN):
    // sent again, so that a pool is not shown lost for the move's length.
    const replies = await retryWhileSlotMoves(redis, () =>
      redis
        .multi()
        .zadd(keys.pools, nowMs, poolId)
        .hset(keys.pool(poolId), facts)
        .pexpire(keys.pool(poolId), goneListedMs + heartbeatMs * 3)
        .zremrangebyscore(keys.pools, '-inf', nowMs - goneListedMs)
        .zremrangebyscore(keys.poolsGone, '-inf', nowMs - goneListedMs)
        .hget(keys.poolDrain, poolId)
        .exec(),
    );
    return replies?.[5]?.[1] as string | null | undefined;
  };
}
