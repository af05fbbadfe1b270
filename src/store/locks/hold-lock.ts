import type { RedisClient } from '../../redis/redis-client.js';
import { HoldLockCode } from '../codes.js';
import { storeScript } from '../store-script.js';

type Command = (lock: string, owner: string, ttlMs: number) => Promise<HoldLockCode>;

/**
 * lua/locks/hold-lock.lua: takes the lock key `lock` for `owner`, or extends it when `owner`
 * holds it; true when `owner` holds it for `ttlMs` from now.
 */
export function holdLock(redis: RedisClient, lock: string): (owner: string, ttlMs: number) => Promise<boolean> {
  const run = storeScript<Command>(redis, 'locks/hold-lock', { numberOfKeys: 1 });
  return async (owner, ttlMs) => (await run(lock, owner, ttlMs)) === HoldLockCode.Held;
}
