/**
 * A throwaway redis-server per test suite: 127.0.0.1, a free port, a fresh directory, no
 * persistence (unless asked for AOF), noeviction as production runs it. Its output goes to
 * `<dir>/redis.log`, never to the test's terminal. Servers still running when the test process
 * exits are killed, so a forgotten stop() does not leave them behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findOnPath, freeLoopbackPort, RedisStartError, startRedisServerProcess, type RedisServerProcess } from '../../src/redis/redis-server-process.js';

export { freeLoopbackPort as freePort } from '../../src/redis/redis-server-process.js';

export interface RedisServerHandle {
  port: number;
  url: string;
  /** The server's --dir (and its log, redis.log); removed by stop(). */
  dir: string;
  /** Its process id. */
  pid: number | undefined;
  /** SIGTERM, wait for exit (SIGKILL after a deadline), remove dir. Safe to call twice. */
  stop(): Promise<void>;
}

const PORT_ATTEMPTS = 5;
const NOT_FOUND = 'redis-server not found: install it (apt-get install redis-server); CI installs it in .ci/run';

const live = new Map<RedisServerProcess, string>();
let exitHookInstalled = false;
/** Kills servers (and removes their dirs) still running when the test process exits. */
function track(server: RedisServerProcess, dir: string): void {
  live.set(server, dir);
  server.child.once('exit', () => live.delete(server));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const [s, d] of live) {
      s.kill();
      rmSync(d, { recursive: true, force: true });
    }
  });
}

export interface StartRedisOptions {
  appendonly?: boolean;
  /** requirepass; `url` then carries no password (clients pass it themselves). */
  password?: string;
  /** More redis-server options, e.g. --tls-port and its files. */
  extraArgs?: string[];
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServerHandle> {
  if (!findOnPath('redis-server')) throw new Error(NOT_FOUND);
  for (let attempt = 1; ; attempt++) {
    const port = await freeLoopbackPort();
    const dir = mkdtempSync(join(tmpdir(), 'orq-redis-'));
    let server: RedisServerProcess;
    try {
      // unref: a forgotten stop() must not keep the test process alive; the exit hook kills it.
      server = await startRedisServerProcess({ port, dir, appendonly: opts.appendonly, password: opts.password, extraArgs: opts.extraArgs, unref: true });
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      // Most likely someone took the port between our probe and its bind: try another.
      const bindFailed =
        err instanceof RedisStartError && /address already in use|could not create server tcp listening socket|failed listening on port/i.test(err.logTail);
      if (bindFailed && attempt < PORT_ATTEMPTS) continue;
      throw err;
    }
    track(server, dir);
    let stopping: Promise<void> | undefined;
    return {
      port,
      url: server.url,
      dir,
      pid: server.pid,
      stop: () => (stopping ??= server.stop().then(() => rmSync(dir, { recursive: true, force: true }))),
    };
  }
}
