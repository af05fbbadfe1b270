/**
 * The bench's Redis: REDIS_URL when given (it must be on this machine: the bench sends no
 * traffic off 127.0.0.1), else a throwaway redis-server on a free loopback port, with no
 * persistence and its files in a temporary directory, stopped at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface BenchRedis {
  url: string;
  /** Set when the bench started the server. */
  pid?: number;
  stop(): Promise<void>;
  /** Synchronous last-resort stop (process exit). */
  kill(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPing(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode} at start-up`);
    const r = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    r.on('error', () => undefined);
    try {
      await r.connect();
      await r.ping();
      r.disconnect();
      return;
    } catch {
      r.disconnect();
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${url} within ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }
}

export async function benchRedis(envUrl: string | undefined): Promise<BenchRedis> {
  if (envUrl) {
    const host = new URL(envUrl).hostname;
    if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) {
      throw new Error(`REDIS_URL must point at this machine (127.0.0.1), not ${host}: the bench floods it`);
    }
    return { url: envUrl, stop: async () => undefined, kill: () => undefined };
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'orq-bench-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'],
    { stdio: 'ignore' },
  );
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new Error(`could not start redis-server (is it installed?): ${err.message}`)));
  });
  await spawned;
  const url = `redis://127.0.0.1:${port}`;
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    await waitForPing(url, child, 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    cleanup();
    throw err;
  }
  return {
    url,
    pid: child.pid,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((res) => child.once('exit', res));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      cleanup();
    },
    kill: () => {
      child.kill('SIGKILL');
      cleanup();
    },
  };
}
