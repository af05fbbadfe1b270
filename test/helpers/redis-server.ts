/**
 * A throwaway redis-server per test suite: 127.0.0.1, a free port, a fresh directory, no
 * persistence, noeviction (as production runs it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from './wait.js';

export interface RedisServerHandle {
  port: number;
  url: string;
  dir: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function ping(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

export async function startRedis(opts: { appendonly?: boolean } = {}): Promise<RedisServerHandle> {
  for (let tries = 0; ; tries++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'orq-redis-'));
    const log = join(dir, 'redis.log');
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--maxmemory-policy', 'noeviction', '--logfile', log];
    args.push('--appendonly', opts.appendonly ? 'yes' : 'no');
    let child: ChildProcess;
    try {
      child = spawn('redis-server', args, { stdio: 'ignore' });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new Error('redis-server not found: install it (apt-get install redis-server); CI installs it in .ci/run', { cause: err });
      }
      throw err;
    }
    const url = `redis://127.0.0.1:${port}`;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await waitFor(async () => child.exitCode !== null || (await ping(url)), { timeoutMs: 15_000, message: `redis-server on ${port} never answered` });
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    if (child.exitCode !== null) {
      // Most likely the port was taken between our probe and its bind: try another.
      let tail = '';
      try {
        tail = readFileSync(log, 'utf8').slice(-2000);
      } catch {
        /* no log */
      }
      rmSync(dir, { recursive: true, force: true });
      if (tries < 5) continue;
      throw new Error(`redis-server exited at start:\n${tail}`);
    }
    let stopped = false;
    return {
      port,
      url,
      dir,
      async stop() {
        if (stopped) return;
        stopped = true;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}
