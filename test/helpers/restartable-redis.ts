/**
 * A redis-server a chaos suite can kill, stop and start again on the same port and data
 * directory: clients keep their address and reconnect, and the AOF carries acknowledged writes
 * over the restart. It has the RedisServerHandle shape, so startBareSystem can run on it; `pid`
 * is the current server's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort, RedisStartError, startRedisServerProcess, type RedisServerProcess } from '../../src/redis/redis-server-process.js';
import type { RedisServerHandle } from './redis-server.js';

export interface RestartableRedisOptions {
  /** AOF on (with `appendfsync everysec` unless extraArgs say otherwise). @default true */
  appendonly?: boolean;
  /** More redis-server options, e.g. `--appendfsync always`; they win over the defaults. */
  extraArgs?: string[];
}

export interface RestartableRedis extends RedisServerHandle {
  /** SIGKILL the running server; resolves once it has exited. */
  kill(): Promise<void>;
  /** Starts a server again on the same port and dir; resolves once it answers PING (AOF loaded). */
  restart(): Promise<void>;
  /** SIGSTOP: the server holds its connections and answers nothing, as a hung host would. */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Whether a server process is running (paused counts as running). */
  running(): boolean;
}

const PORT_ATTEMPTS = 5;
/** Starts again on a port another process may have taken meanwhile: a few tries, then give up. */
const RESTART_ATTEMPTS = 10;

export async function startRestartableRedis(opts: RestartableRedisOptions = {}): Promise<RestartableRedis> {
  const spawnOn = (port: number, dir: string) =>
    startRedisServerProcess({ port, dir, appendonly: opts.appendonly ?? true, extraArgs: opts.extraArgs, unref: true });

  let server: RedisServerProcess | undefined;
  let port = 0;
  let dir = '';
  for (let attempt = 1; !server; attempt++) {
    port = await freeLoopbackPort();
    dir = mkdtempSync(join(tmpdir(), 'orq-redis-restartable-'));
    try {
      server = await spawnOn(port, dir);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      if (!(err instanceof RedisStartError) || attempt >= PORT_ATTEMPTS) throw err;
    }
  }
  let current: RedisServerProcess = server;
  const alive = () => current.child.exitCode === null && current.child.signalCode === null;
  const exited = () => new Promise<void>((resolve) => (alive() ? current.child.once('exit', () => resolve()) : resolve()));
  // A test process that dies leaves no server behind.
  const onExit = () => current.kill();
  process.once('exit', onExit);

  let stopping: Promise<void> | undefined;
  return {
    port,
    url: current.url,
    dir,
    get pid() {
      return current.pid;
    },
    running: alive,
    async kill() {
      const gone = exited();
      current.kill();
      await gone;
    },
    async restart() {
      if (alive()) throw new Error('restart: the server is still running');
      for (let attempt = 1; ; attempt++) {
        try {
          current = await spawnOn(port, dir);
          return;
        } catch (err) {
          // Someone took the port while it was down (rare): wait for them to let it go.
          if (!(err instanceof RedisStartError) || attempt >= RESTART_ATTEMPTS) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
    pause() {
      if (alive()) current.child.kill('SIGSTOP');
    },
    resume() {
      if (alive()) current.child.kill('SIGCONT');
    },
    stop() {
      stopping ??= (async () => {
        // A paused server cannot shut down: let it go on first.
        if (alive()) current.child.kill('SIGCONT');
        await current.stop();
        process.removeListener('exit', onExit);
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
