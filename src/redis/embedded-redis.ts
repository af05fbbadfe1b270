/**
 * The embedded default: when no REDIS_URL is configured, `npm start` runs a local redis-server
 * itself, so trying the system takes one command and no Redis set-up.
 *
 * Why it is configured as it is:
 * - It runs as production should: AOF with `appendfsync everysec` (queued work survives a
 *   restart, losing at most about a second on a crash), `noeviction` (BullMQ's keys must never
 *   be evicted), no RDB snapshots (`--save ''`: the AOF is the persistence), bound to 127.0.0.1.
 * - It has a `maxmemory` (redis.embedded.maxMemoryBytes, 1 GiB or half the machine's memory):
 *   without one, a flood of submissions grows it until the machine swaps or the kernel kills it;
 *   with one (and noeviction) a full Redis refuses writes, and the front end's high-water mark
 *   (redis.memoryHighWaterMark) refuses submissions well before. A server reused from an earlier
 *   start is given the configured value too (CONFIG SET), so changing the key takes effect.
 * - It asks every client for a password: loopback is not a boundary between users of one host,
 *   and any local user (or a web page, through a browser that speaks to 127.0.0.1) could
 *   otherwise write jobs that a pool runs. The password is generated at the first start and kept
 *   in `<dataDir>/password` (mode 0600, in a 0700 folder); every later start, and every process
 *   that finds the server on its own (a pool or dashboard started by hand), reads it there. It
 *   reaches redis-server on its stdin, never on a command line, and our processes hold it in
 *   memory only (src/redis/connection.ts), never in a URL, an environment variable or a log.
 * - A server on the port for our dataDir but without a password was started by an older
 *   version: we refuse to use it, with the command that stops it, rather than restart it under
 *   processes that may still be using it.
 * - Its data and log (`redis.log`) live under `dataDir` in the project, not in a system folder.
 * - A server already answering on the port for the same data directory is reused (and left
 *   running by stop()), so a second `npm start`, or one after a crash that left the server
 *   behind, shares the same data instead of failing to bind.
 * - It is spawned detached with its output in the log file: it cannot hold the terminal or a
 *   CI job's output open, and Ctrl-C on `npm start` reaches only us, so we stop it last, after
 *   the workers and the orchestrator, in order.
 * - stop() sends SIGTERM and waits for the exit: Redis's orderly shutdown, which flushes and
 *   fsyncs the AOF, and which works even when the server is not answering commands.
 * - When redis-server is missing we install Debian's package if we can (root with apt-get);
 *   otherwise the error says what to install, or to set REDIS_URL.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { readPasswordFile } from './connection-settings.js';
import { acceptsConnections, findOnPath, probeRedis, RedisStartError, startRedisServerProcess } from './redis-server-process.js';

export interface EmbeddedRedisOptions {
  /** Where the AOF and the log (redis.log) live; relative to the working directory. @default '.orchestrator/redis' */
  dataDir: string;
  /** Port on 127.0.0.1. @default 6390 */
  port: number;
  /**
   * Its maxmemory (noeviction), set at its start and on a server reused with another value
   * (redis.embedded.maxMemoryBytes, whose default the config computes). @default 0 (no limit)
   */
  maxMemoryBytes?: number;
  /**
   * Whether to start a redis-server when none runs for dataDir. Only `npm start` does (a whole
   * system in one command); a pool, a front end or the dashboard started on its own only reuses
   * one, so a process meant for a real deployment never runs a Redis of its own by mistake.
   * @default true
   */
  startIfMissing?: boolean;
  logger: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

/** No embedded server runs for the data directory, and the caller may not start one. */
export class EmbeddedRedisNotRunningError extends Error {
  constructor(
    readonly port: number,
    readonly dataDir: string,
  ) {
    super(`no embedded redis-server runs on 127.0.0.1:${port} for ${dataDir}`);
    this.name = 'EmbeddedRedisNotRunningError';
  }
}

export interface EmbeddedRedis {
  /** Without the password: safe to log. */
  url: string;
  /** What clients must AUTH with (from `<dataDir>/password`). Never log it. */
  password: string;
  /** Whether an already running server for the same dataDir was reused (stop() then leaves it running). */
  reused: boolean;
  stop(): Promise<void>;
}

type Log = EmbeddedRedisOptions['logger'];

/** Loading a large AOF can take a while; an exit is noticed at once regardless. */
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

function outputOf(err: unknown): string {
  const e = err as { stderr?: Buffer | string; stdout?: Buffer | string; message?: string };
  const text = `${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`.trim() || e.message || String(err);
  return text.split('\n').slice(-10).join('\n');
}

function aptGet(args: string[]): void {
  execFileSync('apt-get', args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 15 * 60_000,
  });
}

/** Installs Debian's redis-server when we are root and have apt-get; the reason when we did not or it failed. */
function installRedis(log: Log): string {
  if (process.getuid?.() !== 0) return 'not running as root, so not installing it';
  if (!findOnPath('apt-get')) return 'no apt-get, so not installing it';
  log.info({ command: 'apt-get install -y redis-server' }, 'redis-server not found: installing the Debian package redis-server');
  try {
    aptGet(['install', '-y', 'redis-server']);
    return '';
  } catch (err) {
    log.warn({ output: outputOf(err) }, 'apt-get install redis-server failed: running apt-get update and trying again');
  }
  try {
    aptGet(['update']);
    aptGet(['install', '-y', 'redis-server']);
    return '';
  } catch (err) {
    const output = outputOf(err);
    log.warn({ output }, 'installing redis-server with apt-get failed');
    return `apt-get install redis-server failed: ${output}`;
  }
}

/**
 * The path of redis-server, installing Debian's package first when it is missing and we can
 * (root, apt-get); otherwise an error saying exactly what to install. Synchronous (blocks while
 * apt-get runs), so it can run before anything else starts.
 */
export function ensureRedisServer(log: Log): string {
  const found = findOnPath('redis-server');
  if (found) return found;
  const reason = installRedis(log);
  const bin = findOnPath('redis-server');
  if (bin) {
    log.info({ path: bin }, 'installed redis-server');
    return bin;
  }
  throw new Error(
    `redis-server not found on PATH (${reason || 'apt-get reported success but it is still missing'}). ` +
      'Install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis), or set REDIS_URL to use a Redis that is already running.',
  );
}

/** The file of the embedded server's password in its data directory. */
export function embeddedPasswordFile(dataDir: string): string {
  return join(resolve(dataDir), 'password');
}

/**
 * The password kept in `file`, created (mode 0600) with 32 random bytes when it does not exist.
 * Created whole under a temporary name and linked into place, so two processes starting at once
 * agree on one password and neither reads a half-written file.
 */
function loadOrCreatePassword(file: string, log: Log): string {
  try {
    statSync(file);
  } catch {
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(tmp, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(tmp, file);
      log.info({ file }, 'generated a password for the embedded redis-server');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  // Owned by someone else the chmod fails, and so, unless they let us read it, does the read.
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    chmodSync(file, 0o600);
    log.warn({ file, mode: mode.toString(8) }, 'the embedded redis-server password file was readable by others: made it 0600');
  }
  return readPasswordFile('the embedded redis-server password', file);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until a server for `dirs` answers PING; false if it stops answering as ours. */
async function waitReady(port: number, dirs: string[], password: string, until: number): Promise<boolean> {
  for (;;) {
    const p = await probeRedis(port, 2_000, password);
    if (p?.auth !== 'ok' || !dirs.includes(p.dir)) return false;
    if (p.ready) return true;
    if (Date.now() > until) return false;
    await sleep(100);
  }
}

/** Sets a reused server's maxmemory (and noeviction) to the configured value when it differs. */
async function applyMaxMemory(port: number, password: string, maxMemoryBytes: number, log: Log): Promise<void> {
  const r = new Redis({ host: '127.0.0.1', port, password, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, enableOfflineQueue: false });
  r.on('error', () => undefined);
  try {
    await r.connect();
    const [, current] = (await r.config('GET', 'maxmemory')) as [string, string];
    if (Number(current) === maxMemoryBytes) return;
    await r.config('SET', 'maxmemory', String(maxMemoryBytes));
    await r.config('SET', 'maxmemory-policy', 'noeviction');
    log.info({ maxMemoryBytes, was: Number(current) }, 'set the reused redis-server to the configured maxmemory');
  } catch (err) {
    log.warn({ err: (err as Error).message, maxMemoryBytes }, 'could not set the reused redis-server maxmemory');
  } finally {
    r.disconnect();
  }
}

export async function startEmbeddedRedis(opts: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  const log = opts.logger;
  const dataDir = resolve(opts.dataDir);
  const mayStart = opts.startIfMissing ?? true;
  // Without its password file no server of ours runs there: refused before anything is created.
  if (!mayStart && !existsSync(embeddedPasswordFile(dataDir))) throw new EmbeddedRedisNotRunningError(opts.port, dataDir);
  // 0700 when we create it: the AOF holds every task's data, and the password file lives here.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const passwordFile = embeddedPasswordFile(dataDir);
  const password = loadOrCreatePassword(passwordFile, log);
  // Redis reports its dir as getcwd() after chdir, i.e. with symlinks resolved.
  const dirs = [...new Set([dataDir, realpathSync(dataDir)])];
  const { port } = opts;
  const url = `redis://127.0.0.1:${port}`;
  const logFile = join(dataDir, 'redis.log');
  const reuse = async (pid: number): Promise<EmbeddedRedis> => {
    log.info({ url, dataDir, pid }, 'reusing the redis-server already running for this data directory');
    await applyMaxMemory(port, password, opts.maxMemoryBytes ?? 0, log);
    return { url, password, reused: true, stop: async () => undefined };
  };

  const running = await probeRedis(port, 2_000, password);
  if (running?.auth === 'refused') {
    throw new Error(
      `127.0.0.1:${port} is taken by a Redis that refuses the embedded server's password (${passwordFile}): ` +
        'if it is the embedded server of this dataDir, its password file was replaced; stop that server (kill its redis-server process) and start again. ' +
        'Otherwise set REDIS_URL to use that server, or choose another redis.embedded.port',
    );
  }
  if (running) {
    if (!dirs.includes(running.dir)) {
      throw new Error(
        `127.0.0.1:${port} is taken by a Redis serving ${running.dir}, not ${dataDir}: set REDIS_URL to use that server, ` +
          'or choose another redis.embedded.port (or dataDir)',
      );
    }
    if (!running.passwordSet) {
      throw new Error(
        `the redis-server running on 127.0.0.1:${port} for ${dataDir} has no password (an older version started it): ` +
          `stop it (redis-cli -p ${port} shutdown) once nothing uses it, and start again; the new one asks for the password in ${passwordFile}`,
      );
    }
    if (!(await waitReady(port, dirs, password, Date.now() + START_TIMEOUT_MS))) {
      throw new Error(`the redis-server already running on 127.0.0.1:${port} for ${dataDir} does not answer PING; see ${logFile}`);
    }
    return reuse(running.pid);
  }
  if (await acceptsConnections(port)) {
    throw new Error(`127.0.0.1:${port} is in use by something that is not a Redis we can use: choose another redis.embedded.port, or set REDIS_URL`);
  }
  if (!mayStart) throw new EmbeddedRedisNotRunningError(port, dataDir);

  const bin = ensureRedisServer(log);
  try {
    const server = await startRedisServerProcess({
      bin,
      port,
      dir: dataDir,
      appendonly: true,
      logFile,
      detached: true,
      password,
      maxMemoryBytes: opts.maxMemoryBytes ?? 0,
      startTimeoutMs: START_TIMEOUT_MS,
      stopTimeoutMs: STOP_TIMEOUT_MS,
      onKilled: (pid) => log.warn({ pid, timeoutMs: STOP_TIMEOUT_MS }, 'embedded redis-server did not exit on SIGTERM: killing it'),
    });
    log.info({ url, dataDir, pid: server.pid, log: logFile, maxMemoryBytes: opts.maxMemoryBytes ?? 0 }, 'embedded redis-server started');
    let stopping: Promise<void> | undefined;
    return {
      url,
      password,
      reused: false,
      stop: () => (stopping ??= server.stop().then(() => log.info({ pid: server.pid }, 'embedded redis-server stopped'))),
    };
  } catch (err) {
    if (err instanceof RedisStartError && err.reason === 'exited') {
      // Another process may have started a server for the same directory just before us.
      const other = await probeRedis(port, 2_000, password);
      if (other?.auth === 'ok' && other.passwordSet && dirs.includes(other.dir) && (await waitReady(port, dirs, password, Date.now() + START_TIMEOUT_MS)))
        return reuse(other.pid);
    }
    throw new Error(`embedded ${(err as Error).message}`, { cause: err });
  }
}
