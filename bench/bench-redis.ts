/**
 * The bench's Redis: REDIS_URL when given (it must be on this machine: the bench sends no
 * traffic off 127.0.0.1), else a throwaway redis-server on a free loopback port, with no
 * persistence and its files in a temporary directory, stopped at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort, startRedisServerProcess } from '../src/redis/redis-server-process.js';

export interface BenchRedis {
  url: string;
  /** Set when the bench started the server. */
  pid?: number;
  stop(): Promise<void>;
  /** Synchronous last-resort stop (process exit). */
  kill(): void;
}

export async function benchRedis(envUrl: string | undefined): Promise<BenchRedis> {
  if (envUrl) {
    const host = new URL(envUrl).hostname;
    if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) {
      throw new Error(`REDIS_URL must point at this machine (127.0.0.1), not ${host}: the bench floods it`);
    }
    return { url: envUrl, stop: async () => undefined, kill: () => undefined };
  }
  const dir = mkdtempSync(join(tmpdir(), 'orq-bench-redis-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  let server;
  try {
    server = await startRedisServerProcess({ port: await freeLoopbackPort(), dir, stopTimeoutMs: 5_000 });
  } catch (err) {
    cleanup();
    throw err;
  }
  return {
    url: server.url,
    pid: server.pid,
    stop: async () => {
      await server.stop();
      cleanup();
    },
    kill: () => {
      server.kill();
      cleanup();
    },
  };
}
