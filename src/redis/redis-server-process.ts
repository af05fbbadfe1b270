/**
 * One redis-server child process: spawned with its output in a log file, waited for until it
 * answers PING as itself (its pid, so a server that was already on the port is never mistaken
 * for ours), and stopped with SIGTERM (Redis's orderly shutdown, which flushes the AOF) and
 * SIGKILL after a deadline. The embedded default (embedded-redis.ts), the test suites' throwaway
 * servers and the benchmarks' server are all started here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync, statSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { Redis } from 'ioredis';

export interface RedisServerProcessOptions {
  /** The executable. @default 'redis-server' (from PATH) */
  bin?: string;
  /** Port on 127.0.0.1. */
  port: number;
  /** The server's --dir: its AOF, and its log unless logFile says otherwise. */
  dir: string;
  /** AOF with `appendfsync everysec`. @default false (no persistence at all) */
  appendonly?: boolean;
  /** Where its stdout and stderr go (appended). @default `<dir>/redis.log` */
  logFile?: string;
  /**
   * Clients must AUTH with this (requirepass). Handed to the server as a config file on its
   * stdin (`redis-server -`), so it is on no command line and in no file beyond the caller's.
   * @default undefined (no password)
   */
  password?: string;
  /** Its maxmemory (`maxmemory-policy` is always noeviction). @default 0 (no limit) */
  maxMemoryBytes?: number;
  /** More redis-server options, appended (e.g. --tls-port and its files). @default [] */
  extraArgs?: string[];
  /** Own process group: Ctrl-C on the parent's terminal does not reach it. @default false */
  detached?: boolean;
  /** Let the parent exit while the server runs. @default false */
  unref?: boolean;
  /** How long loading and answering PING may take. @default 15000 */
  startTimeoutMs?: number;
  /** How long stop() waits after SIGTERM before SIGKILL. @default 10000 */
  stopTimeoutMs?: number;
  /** Told when stop() had to fall back to SIGKILL. */
  onKilled?(pid: number | undefined): void;
}

export interface RedisServerProcess {
  port: number;
  url: string;
  pid: number | undefined;
  child: ChildProcess;
  logFile: string;
  /** SIGTERM, wait for the exit (SIGKILL after stopTimeoutMs). Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILL without waiting: the last resort at process exit. */
  kill(): void;
}

/** Why a server did not come up; `logTail` is the end of its log. */
export class RedisStartError extends Error {
  constructor(
    message: string,
    readonly reason: 'spawn_failed' | 'exited' | 'timed_out',
    readonly logTail: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'RedisStartError';
  }
}

/** The executable `cmd` on PATH, or undefined. */
export function findOnPath(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, cmd);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** A port that was free a moment ago on 127.0.0.1 (someone may take it before it is used). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Whether anything accepts TCP connections on 127.0.0.1:port (a silent one counts after 2 s). */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.setTimeout(2_000, () => {
      s.destroy();
      res(true);
    });
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

export type RedisProbe =
  | {
      auth: 'ok';
      /** Whether the server asks clients for a password (false: anyone on the host may use it). */
      passwordSet: boolean;
      /** Its --dir, as the server reports it (symlinks resolved). */
      dir: string;
      pid: number;
      /** PING answered PONG (false while the server is still loading its AOF). */
      ready: boolean;
    }
  /** A Redis that asks for a password we do not have, or refused the one we gave. */
  | { auth: 'refused' };

const isAuthError = (err: unknown) => /^(NOAUTH|WRONGPASS)/.test((err as Error).message ?? '');

/**
 * Asks the Redis on 127.0.0.1:port who it is, authenticating with `password` when it asks for
 * one; undefined when no Redis answers there.
 */
export async function probeRedis(port: number, timeoutMs = 2_000, password?: string): Promise<RedisProbe | undefined> {
  const r = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    enableReadyCheck: false,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    // CONFIG, INFO and AUTH answer while an AOF is loading; PING does not until it is loaded.
    // AUTH only when asked: ioredis's own AUTH at connect would warn on stderr when a server has
    // no password, and that server is exactly what the caller needs to tell apart.
    const getDir = async () => ((await r.config('GET', 'dir')) as [string, string])[1];
    let dir: string;
    let passwordSet = false;
    try {
      dir = await getDir();
    } catch (err) {
      if (!isAuthError(err)) throw err;
      if (password === undefined) return { auth: 'refused' };
      try {
        await r.call('AUTH', password);
      } catch (authErr) {
        if (isAuthError(authErr)) return { auth: 'refused' };
        throw authErr;
      }
      passwordSet = true;
      dir = await getDir();
    }
    const m = /^process_id:(\d+)/m.exec(await r.info('server'));
    const ready = await r.ping().then(
      (p) => p === 'PONG',
      () => false,
    );
    return { auth: 'ok', passwordSet, dir, pid: m ? Number(m[1]) : -1, ready };
  } catch {
    return undefined;
  } finally {
    r.disconnect();
  }
}

/** The last non-empty lines of a log file. */
export function logTail(file: string, lines = 15): string {
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Settings for the Redis servers we start (and recommended for any Redis Orchestrator uses).
 * A task's BullMQ job hash holds its data and options as JSON; past Redis's default 64-byte
 * limit one such value moves the whole hash to the hashtable encoding, about twice the memory.
 * 512 keeps the job of a typical task compact; a hash of a dozen fields that size is still
 * read in well under a microsecond.
 */
export const REDIS_TUNING = ['--hash-max-listpack-value', '512'];

/** `text` as a double-quoted string of a Redis config file (its parser's escapes). */
export function redisConfigString(text: string): string {
  return `"${text
    .replace(/[\\"]/g, (c) => `\\${c}`)
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')}"`;
}

/** Spawns redis-server and resolves once it answers PING as itself; throws RedisStartError otherwise. */
export async function startRedisServerProcess(opts: RedisServerProcessOptions): Promise<RedisServerProcess> {
  const bin = opts.bin ?? 'redis-server';
  const { port, dir } = opts;
  const logFile = opts.logFile ?? join(dir, 'redis.log');
  const startTimeoutMs = opts.startTimeoutMs ?? 15_000;
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--maxmemory-policy',
    'noeviction',
    '--daemonize',
    'no',
    ...REDIS_TUNING,
  ];
  args.push('--appendonly', opts.appendonly ? 'yes' : 'no');
  if (opts.appendonly) args.push('--appendfsync', 'everysec');
  if (opts.maxMemoryBytes) args.push('--maxmemory', String(opts.maxMemoryBytes));
  args.push(...(opts.extraArgs ?? []));
  // `-` first: the config file is stdin, and the options after it still apply.
  if (opts.password !== undefined) args.unshift('-');

  const out = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(bin, args, { stdio: [opts.password === undefined ? 'ignore' : 'pipe', out, out], detached: opts.detached ?? false });
  } finally {
    closeSync(out);
  }
  if (opts.password !== undefined && child.stdin) {
    // An early exit closes the pipe; that exit is reported below, not this EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(`requirepass ${redisConfigString(opts.password)}\n`);
  }
  if (opts.unref) child.unref();
  let spawnError: Error | undefined;
  child.on('error', (err) => (spawnError ??= err));
  const exited = new Promise<void>((res) => {
    child.once('exit', () => res());
    child.once('error', () => res());
  });
  const gone = () => spawnError !== undefined || child.exitCode !== null || child.signalCode !== null;

  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (gone()) {
      if (spawnError) throw new RedisStartError(`could not run ${bin}: ${spawnError.message}`, 'spawn_failed', '', { cause: spawnError });
      const tail = logTail(logFile);
      throw new RedisStartError(
        `redis-server exited at start (code ${child.exitCode ?? child.signalCode}); its log (${logFile}) ends:\n${tail}`,
        'exited',
        tail,
      );
    }
    const p = await probeRedis(port, 1_000, opts.password);
    if (p?.auth === 'ok' && p.pid === child.pid && p.ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      const tail = logTail(logFile);
      throw new RedisStartError(
        `redis-server on 127.0.0.1:${port} did not answer PING within ${startTimeoutMs} ms; its log (${logFile}) ends:\n${tail}`,
        'timed_out',
        tail,
      );
    }
    await sleep(50);
  }

  let stopping: Promise<void> | undefined;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    child,
    logFile,
    stop() {
      stopping ??= (async () => {
        if (gone()) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          opts.onKilled?.(child.pid);
          child.kill('SIGKILL');
        }, opts.stopTimeoutMs ?? 10_000);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
    kill() {
      if (!gone()) child.kill('SIGKILL');
    },
  };
}
