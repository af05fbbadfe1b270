/**
 * A throwaway redis-server per test suite: 127.0.0.1, a free port, a fresh directory, no
 * persistence (unless asked for AOF), noeviction as production runs it. Its output goes to
 * `<dir>/redis.log`, never to the test's terminal. Servers still running when the test process
 * exits are killed, so a forgotten stop() does not leave them behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from './wait.js';

export interface RedisServerHandle {
  port: number;
  url: string;
  /** The server's --dir (and its log, redis.log); removed by stop(). */
  dir: string;
  /** SIGTERM, wait for exit (SIGKILL after a deadline), remove dir. Safe to call twice. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 5;

/** A port that was free a moment ago on 127.0.0.1 (someone may take it before we use it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function onPath(cmd: string): boolean {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    if (!d) continue;
    try {
      accessSync(join(d, cmd), constants.X_OK);
      if (statSync(join(d, cmd)).isFile()) return true;
    } catch {
      /* not here */
    }
  }
  return false;
}

const NOT_FOUND = 'redis-server not found: install it (apt-get install redis-server); CI installs it in .ci/run';

/** The process id of the Redis answering PING on the port, or undefined. */
async function answeringPid(port: number): Promise<number | undefined> {
  const r = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    connectTimeout: 1_000,
    commandTimeout: 1_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    enableReadyCheck: false,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    if ((await r.ping()) !== 'PONG') return undefined;
    const m = /^process_id:(\d+)/m.exec(await r.info('server'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  } finally {
    r.disconnect();
  }
}

function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .slice(-lines)
      .join('\n');
  } catch {
    return '(no log)';
  }
}

const live = new Map<ChildProcess, string>();
let exitHookInstalled = false;
/** Kills servers (and removes their dirs) still running when the test process exits. */
function track(child: ChildProcess, dir: string): void {
  live.set(child, dir);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const [c, d] of live) {
        c.kill('SIGKILL');
        rmSync(d, { recursive: true, force: true });
      }
    });
  }
}

export async function startRedis(opts: { appendonly?: boolean } = {}): Promise<RedisServerHandle> {
  if (!onPath('redis-server')) throw new Error(NOT_FOUND);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'orq-redis-'));
    const log = join(dir, 'redis.log');
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      opts.appendonly ? 'yes' : 'no',
      '--maxmemory-policy',
      'noeviction',
      '--daemonize',
      'no',
    ];
    const out = openSync(log, 'a');
    let child: ChildProcess;
    try {
      child = spawn('redis-server', args, { stdio: ['ignore', out, out] });
    } finally {
      closeSync(out);
    }
    let spawnFailed = false;
    const spawnError = new Promise<Error>((resolve) =>
      child.once('error', (err) => {
        spawnFailed = true;
        resolve(err);
      }),
    );
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // A forgotten stop() must not keep the test process alive; the exit hook then kills it.
    child.unref();
    track(child, dir);
    const gone = () => spawnFailed || child.exitCode !== null || child.signalCode !== null;

    let outcome: 'ready' | 'exited' | Error;
    try {
      outcome = await Promise.race([
        spawnError,
        waitFor<'ready' | 'exited' | undefined>(async () => (gone() ? 'exited' : (await answeringPid(port)) === child.pid ? 'ready' : undefined), {
          timeoutMs: START_TIMEOUT_MS,
          message: `redis-server on 127.0.0.1:${port} never answered PING`,
        }) as Promise<'ready' | 'exited'>,
      ]);
    } catch (err) {
      outcome = err as Error;
    }

    if (outcome === 'ready') {
      let stopping: Promise<void> | undefined;
      return {
        port,
        url: `redis://127.0.0.1:${port}`,
        dir,
        stop() {
          stopping ??= (async () => {
            if (!gone()) {
              child.kill('SIGTERM');
              const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
              await exited;
              clearTimeout(timer);
            }
            rmSync(dir, { recursive: true, force: true });
          })();
          return stopping;
        },
      };
    }

    const tail = logTail(log);
    if (!gone()) {
      child.kill('SIGKILL');
      await Promise.race([exited, spawnError]);
    }
    rmSync(dir, { recursive: true, force: true });
    if (outcome instanceof Error) {
      if ((outcome as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(NOT_FOUND, { cause: outcome });
      throw new Error(`${outcome.message}; its log ended:\n${tail}`, { cause: outcome });
    }
    // It exited. Most likely someone took the port between our probe and its bind: try another.
    const bindFailed = /address already in use|could not create server tcp listening socket|failed listening on port/i.test(tail);
    if (bindFailed && attempt < PORT_ATTEMPTS) continue;
    throw new Error(`redis-server exited at start (port ${port}, attempt ${attempt}); its log ended:\n${tail}`);
  }
}
