/**
 * Redis connections. BullMQ needs `maxRetriesPerRequest: null` on connections it blocks on;
 * we use the same settings everywhere so a Redis restart is ridden out rather than crashing.
 *
 * BullMQ and our own code never share a connection: BullMQ defines some fifty Lua commands on
 * the connection it is given, and every ioredis pipeline (ours, or an auto-pipeline) copies
 * all of them when it is created. That made each of our pipelines cost more than the command it
 * carried. BullMQ gets plain connections; ours auto-pipeline.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConnectionSettings } from './connection-settings.js';

/**
 * The password and TLS settings of this process's Redis, set once at start (resolveRedis in
 * src/process/redis-url.ts) before any connection is made. A process talks to one Redis
 * deployment, so these are a property of the process, like a CA bundle; keeping them here,
 * rather than beside every URL, means the dozens of places that open connections by URL
 * (BullMQ's included: it duplicates the connections it is given) cannot forget them, and the
 * URLs passed around and logged carry no password.
 */
let settings: RedisConnectionSettings = {};

export function useRedisConnectionSettings(next: RedisConnectionSettings): void {
  settings = next;
}

/**
 * `url` with the configured password when it carries none. ioredis lets the URL's user and
 * password win over its options, and reads `redis://user@host` as an empty password, so the
 * password goes into the URL object handed to ioredis (never into one that is logged).
 */
function withPassword(url: string): string {
  if (settings.password === undefined || !/^rediss?:\/\//i.test(url)) return url;
  const u = new URL(url);
  if (u.password) return url;
  u.password = encodeURIComponent(settings.password);
  return u.toString();
}

export function createRedis(url: string, opts: RedisOptions = {}): Redis {
  // Only for rediss://: TLS options on a redis:// URL would silently switch ioredis to TLS.
  const tls = settings.tls && /^rediss:\/\//i.test(url) ? { tls: settings.tls } : {};
  const redis = new Redis(withPassword(url), {
    ...tls,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    ...opts,
  });
  // ioredis reconnects by itself; a failure reaches whoever issued the failing command, and
  // Health reports Redis as down. Without a listener every retry would print a stack trace.
  redis.on('error', () => undefined);
  return redis;
}

/** A connection for blocking reads (XREAD BLOCK): never shared, never auto-pipelined. */
export function createBlockingRedis(url: string): Redis {
  return createRedis(url);
}

/**
 * A connection for our own commands (never BullMQ's): commands issued in the same tick go out as
 * one pipeline, so the feed entries of many concurrent tasks share round trips.
 */
export function createOwnRedis(url: string, connectionName: string): Redis {
  return createRedis(url, { connectionName, enableAutoPipelining: true });
}

/**
 * A connection for request/response paths (the gRPC front end): while Redis is unreachable,
 * commands fail at once instead of queueing, so callers get UNAVAILABLE rather than a hang.
 * Resolves once the connection is ready: a process started while Redis is down (a restart of
 * both, a Redis that comes up later than its clients) waits for it, reconnecting as every
 * connection does, instead of exiting on the first refused connect.
 */
export async function createFailFastRedis(url: string, connectionName: string, autoPipeline = false): Promise<Redis> {
  const redis = createRedis(url, { connectionName, enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true, enableAutoPipelining: autoPipeline });
  const ready = new Promise<void>((resolve) => redis.once('ready', () => resolve()));
  // The first attempt's failure rejects connect(); ioredis goes on reconnecting by itself.
  redis.connect().catch(() => undefined);
  await ready;
  return redis;
}
