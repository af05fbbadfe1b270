import type { RedisClient } from '../../redis/redis-client.js';
import type { ReleaseLockCode } from '../codes.js';
import { storeScript } from '../store-script.js';

type Command = (lock: string, owner: string) => Promise<ReleaseLockCode>;

/** lua/locks/release-lock.lua: releases the lock key `lock` only when `owner` still holds it. */
export function releaseLock(redis: RedisClient, lock: string): (owner: string) => Promise<ReleaseLockCode> {
  const run = storeScript<Command>(redis, 'locks/release-lock', { numberOfKeys: 1 });
  return (owner) => run(lock, owner);
}
