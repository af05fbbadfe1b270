/**
 * Redis connections. BullMQ needs `maxRetriesPerRequest: null` on connections it blocks on;
 * we use the same settings everywhere so a Redis restart is ridden out rather than crashing.
 *
 * BullMQ and our own code never share a connection: BullMQ defines some fifty Lua commands on
 * the connection it is given, and every ioredis pipeline (ours, or an auto-pipeline) copies
 * all of them when it is created. That made each of our pipelines cost more than the command it
 * carried. BullMQ gets plain connections; ours auto-pipeline.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisConnectionSettings } from './connection-settings.js';
import { parseRedisAddress } from '../config/redis-address.js';
import type { RedisClient } from './redis-client.js';
import { CLUSTER_MAX_REDIRECTIONS, SLOT_MOVE_RETRY_DELAY_MS } from './slot-moving.js';

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

/**
 * A connection to `url`: one Redis, or a Redis Cluster when the URL names several seed nodes
 * (src/redis/redis-address.ts). The same options apply either way: to the connection, or to
 * each of the cluster's node connections (offline queue, lazy connect and auto-pipelining to the
 * cluster as a whole, as ioredis wants them).
 */
export function createRedis(url: string, opts: RedisOptions = {}): RedisClient {
  const address = parseRedisAddress(url);
  if (address.cluster) return createCluster(url, opts);
  // Only for rediss://: TLS options on a redis:// URL would silently switch ioredis to TLS.
  const tls = settings.tls && address.tls ? { tls: settings.tls } : {};
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

/**
 * A Redis Cluster client. It learns every node from the seeds and follows MOVED/ASK replies,
 * failovers and resharding by itself (TRYAGAIN of a slot being moved for up to
 * SLOT_MOVE_RIDE_OUT_MS); while the cluster is unreachable it retries as a single
 * connection does (retryStrategy, else every 100 ms to 2 s).
 */
function createCluster(url: string, opts: RedisOptions): Cluster {
  const address = parseRedisAddress(url);
  const { enableOfflineQueue, enableAutoPipelining, lazyConnect, retryStrategy, ...nodeOptions } = opts;
  const cluster = new Cluster(address.nodes, {
    redisOptions: {
      ...(address.tls ? { tls: settings.tls ?? {} } : {}),
      ...(address.username ? { username: address.username } : {}),
      ...(address.password !== undefined || settings.password !== undefined ? { password: address.password ?? settings.password } : {}),
      maxRetriesPerRequest: null,
      enableReadyCheck: true,
      ...nodeOptions,
    },
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    ...(enableAutoPipelining !== undefined ? { enableAutoPipelining } : {}),
    ...(lazyConnect !== undefined ? { lazyConnect } : {}),
    clusterRetryStrategy: retryStrategy ?? ((times: number) => Math.min(100 * times, 2_000)),
    // A slot being moved answers TRYAGAIN until its last key has moved: enough redirections to
    // wait that out (src/redis/slot-moving.ts) rather than failing after ioredis's default 16.
    retryDelayOnTryAgain: SLOT_MOVE_RETRY_DELAY_MS,
    maxRedirections: CLUSTER_MAX_REDIRECTIONS,
    // Nodes announce their own addresses; a TLS certificate names the host, so keep it as given.
    ...(address.tls ? { dnsLookup: (host: string, cb: (err: null, addr: string) => void) => cb(null, host) } : {}),
  });
  cluster.on('error', () => undefined);
  return cluster;
}

/** A connection for blocking reads (XREAD BLOCK): never shared, never auto-pipelined. */
export function createBlockingRedis(url: string): RedisClient {
  return createRedis(url);
}

/**
 * A connection for our own commands (never BullMQ's): commands issued in the same tick go out as
 * one pipeline, so the feed entries of many concurrent tasks share round trips.
 */
export function createOwnRedis(url: string, connectionName: string): RedisClient {
  return createRedis(url, { connectionName, enableAutoPipelining: true });
}

/**
 * A connection for request/response paths (the gRPC front end): while Redis is unreachable,
 * commands fail at once instead of queueing, so callers get UNAVAILABLE rather than a hang.
 * Resolves once the connection is ready: a process started while Redis is down (a restart of
 * both, a Redis that comes up later than its clients) waits for it, reconnecting as every
 * connection does, instead of exiting on the first refused connect.
 */
export async function createFailFastRedis(url: string, connectionName: string, autoPipeline = false): Promise<RedisClient> {
  const redis = createRedis(url, { connectionName, enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true, enableAutoPipelining: autoPipeline });
  const ready = new Promise<void>((resolve) => redis.once('ready', () => resolve()));
  // The first attempt's failure rejects connect(); ioredis goes on reconnecting by itself.
  redis.connect().catch(() => undefined);
  await ready;
  return redis;
}
