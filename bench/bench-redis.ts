/**
 * The bench's Redis: REDIS_URL when given (it must be on this machine: the bench sends no
 * traffic off 127.0.0.1), else a throwaway redis-server on a free loopback port, with no
 * persistence and its files in a temporary directory, stopped at the end; with `replica`, a second
 * one replicating it (the cost of redis.waitReplicas, --replica --wait-replicas 1).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort, startRedisServerProcess, type RedisServerProcess } from '../src/redis/redis-server-process.js';

export interface BenchRedis {
  url: string;
  /** Set when the bench started the server. */
  pid?: number;
  stop(): Promise<void>;
  /** Synchronous last-resort stop (process exit). */
  kill(): void;
}

export interface BenchRedisOptions {
  /** A replica of the throwaway server, synced before the bench starts (--replica). */
  replica?: boolean;
}

export async function benchRedis(envUrl: string | undefined, opts: BenchRedisOptions = {}): Promise<BenchRedis> {
  if (envUrl) {
    const host = new URL(envUrl).hostname;
    if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) {
      throw new Error(`REDIS_URL must point at this machine (127.0.0.1), not ${host}: the bench floods it`);
    }
    if (opts.replica) throw new Error('--replica starts a replica of the throwaway Redis: leave out REDIS_URL');
    return { url: envUrl, stop: async () => undefined, kill: () => undefined };
  }
  const dir = mkdtempSync(join(tmpdir(), 'orq-bench-redis-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  let server: RedisServerProcess | undefined;
  let replica: RedisServerProcess | undefined;
  try {
    const port = await freeLoopbackPort();
    server = await startRedisServerProcess({ port, dir, stopTimeoutMs: 5_000 });
    if (opts.replica) {
      mkdirSync(join(dir, 'replica'));
      replica = await startRedisServerProcess({
        port: await freeLoopbackPort(),
        dir: join(dir, 'replica'),
        stopTimeoutMs: 5_000,
        extraArgs: ['--replicaof', '127.0.0.1', String(port)],
      });
      await replicaOnline(server.url);
    }
  } catch (err) {
    replica?.kill();
    server?.kill();
    cleanup();
    throw err;
  }
  const s = server;
  return {
    url: s.url,
    pid: s.pid,
    stop: async () => {
      await replica?.stop();
      await s.stop();
      cleanup();
    },
    kill: () => {
      replica?.kill();
      s.kill();
      cleanup();
    },
  };
}

/** Waits until the master reports its replica online (synced, taking the stream). */
async function replicaOnline(url: string): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const deadline = Date.now() + 30_000;
    while (!/^slave0:.*state=online/m.test(await r.info('replication'))) {
      if (Date.now() > deadline) throw new Error('the bench Redis replica did not come online within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    r.disconnect();
  }
}
