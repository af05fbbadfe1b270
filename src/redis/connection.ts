/**
 * Redis connections. BullMQ needs `maxRetriesPerRequest: null` on connections it blocks on;
 * we use the same settings everywhere so a Redis restart is ridden out rather than crashing.
 */
import { Redis, type RedisOptions } from 'ioredis';

export function createRedis(url: string, opts: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    // Commands issued in the same tick go out as one pipeline: the feeds write several
    // small entries per task and this keeps them to one round trip.
    enableAutoPipelining: true,
    ...opts,
  });
  // ioredis reconnects by itself; a failure reaches whoever issued the failing command, and
  // Health reports Redis as down. Without a listener every retry would print a stack trace.
  redis.on('error', () => undefined);
  return redis;
}

/** A connection for blocking reads (XREAD BLOCK): never shared, never auto-pipelined. */
export function createBlockingRedis(url: string): Redis {
  return createRedis(url, { enableAutoPipelining: false });
}

/**
 * A connection for request/response paths (the gRPC front end): while Redis is unreachable,
 * commands fail at once instead of queueing, so callers get UNAVAILABLE rather than a hang.
 * Resolves once the connection is ready.
 */
export async function createFailFastRedis(url: string, connectionName: string): Promise<Redis> {
  const redis = createRedis(url, { connectionName, enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
  await redis.connect();
  return redis;
}
