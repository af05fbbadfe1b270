/**
 * The embedded default: when no REDIS_URL is configured, `npm start` runs a local redis-server
 * itself, so trying the system takes one command and no Redis set-up.
 *
 * Why it is configured as it is:
 * - It runs as production should: AOF with `appendfsync everysec` (queued work survives a
 *   restart, losing at most about a second on a crash), `noeviction` (BullMQ's keys must never
 *   be evicted), no RDB snapshots (`--save ''`: the AOF is the persistence), bound to 127.0.0.1.
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
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, openSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { Redis } from 'ioredis';

export interface EmbeddedRedisOptions {
  /** Where the AOF and the log (redis.log) live; relative to the working directory. @default '.orchestrator/redis' */
  dataDir: string;
  /** Port on 127.0.0.1. @default 6390 */
  port: number;
  logger: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

export interface EmbeddedRedis {
  url: string;
  /** Whether an already running server for the same dataDir was reused (stop() then leaves it running). */
  reused: boolean;
  stop(): Promise<void>;
}

type Log = EmbeddedRedisOptions['logger'];

/** Loading a large AOF can take a while; an exit is noticed at once regardless. */
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

/** The executable `cmd` on PATH, or undefined. */
function which(cmd: string): string | undefined {
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
  if (!which('apt-get')) return 'no apt-get, so not installing it';
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
  const found = which('redis-server');
  if (found) return found;
  const reason = installRedis(log);
  const bin = which('redis-server');
  if (bin) {
    log.info({ path: bin }, 'installed redis-server');
    return bin;
  }
  throw new Error(
    `redis-server not found on PATH (${reason || 'apt-get reported success but it is still missing'}). ` +
      'Install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis), or set REDIS_URL to use a Redis that is already running.',
  );
}

interface Probe {
  dir: string;
  pid: number;
  /** PING answered PONG (false while the server is still loading its AOF). */
  ready: boolean;
}

/** Asks the Redis on 127.0.0.1:port who it is; undefined when no Redis answers there. */
async function probe(port: number): Promise<Probe | undefined> {
  const r = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    enableReadyCheck: false,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    // CONFIG and INFO answer while an AOF is loading; PING does not until it is loaded.
    const [, dir] = (await r.config('GET', 'dir')) as [string, string];
    const m = /^process_id:(\d+)/m.exec(await r.info('server'));
    const ready = await r.ping().then(
      (p) => p === 'PONG',
      () => false,
    );
    return { dir, pid: m ? Number(m[1]) : -1, ready };
  } catch {
    return undefined;
  } finally {
    r.disconnect();
  }
}

/** Whether anything accepts TCP connections on 127.0.0.1:port. */
function portTaken(port: number): Promise<boolean> {
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

function logTail(file: string, lines = 15): string {
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

/** Waits until a server for `dirs` answers PING; false if it stops answering as ours. */
async function waitReady(port: number, dirs: string[], until: number): Promise<boolean> {
  for (;;) {
    const p = await probe(port);
    if (!p || !dirs.includes(p.dir)) return false;
    if (p.ready) return true;
    if (Date.now() > until) return false;
    await sleep(100);
  }
}

export async function startEmbeddedRedis(opts: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  const log = opts.logger;
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  // Redis reports its dir as getcwd() after chdir, i.e. with symlinks resolved.
  const dirs = [...new Set([dataDir, realpathSync(dataDir)])];
  const { port } = opts;
  const url = `redis://127.0.0.1:${port}`;
  const logFile = join(dataDir, 'redis.log');
  const reuse = (pid: number): EmbeddedRedis => {
    log.info({ url, dataDir, pid }, 'reusing the redis-server already running for this data directory');
    return { url, reused: true, stop: async () => undefined };
  };

  const running = await probe(port);
  if (running) {
    if (!dirs.includes(running.dir)) {
      throw new Error(
        `127.0.0.1:${port} is taken by a Redis serving ${running.dir}, not ${dataDir}: set REDIS_URL to use that server, ` +
          'or choose another redis.embedded.port (or dataDir)',
      );
    }
    if (!(await waitReady(port, dirs, Date.now() + START_TIMEOUT_MS))) {
      throw new Error(`the redis-server already running on 127.0.0.1:${port} for ${dataDir} does not answer PING; see ${logFile}`);
    }
    return reuse(running.pid);
  }
  if (await portTaken(port)) {
    throw new Error(`127.0.0.1:${port} is in use by something that is not a Redis we can use: choose another redis.embedded.port, or set REDIS_URL`);
  }

  const bin = ensureRedisServer(log);
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dataDir,
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--maxmemory-policy',
    'noeviction',
    '--save',
    '',
    '--daemonize',
    'no',
  ];
  const out = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(bin, args, { stdio: ['ignore', out, out], detached: true });
  } finally {
    closeSync(out);
  }
  let spawnError: Error | undefined;
  child.on('error', (err) => (spawnError ??= err));
  const exited = new Promise<void>((res) => {
    child.once('exit', () => res());
    child.once('error', () => res());
  });
  const gone = () => spawnError !== undefined || child.exitCode !== null || child.signalCode !== null;

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (gone()) {
      // Another process may have started a server for the same directory just before us.
      const other = await probe(port);
      if (other && dirs.includes(other.dir) && (await waitReady(port, dirs, deadline))) return reuse(other.pid);
      const why = spawnError ? `could not run ${bin}: ${spawnError.message}` : `redis-server exited at start (code ${child.exitCode ?? child.signalCode})`;
      throw new Error(`embedded ${why}; its log (${logFile}) ends:\n${logTail(logFile)}`);
    }
    const p = await probe(port);
    if (p && p.pid === child.pid && p.ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(
        `embedded redis-server on 127.0.0.1:${port} did not answer PING within ${START_TIMEOUT_MS} ms; its log (${logFile}) ends:\n${logTail(logFile)}`,
      );
    }
    await sleep(50);
  }
  log.info({ url, dataDir, pid: child.pid, log: logFile }, 'embedded redis-server started');

  let stopping: Promise<void> | undefined;
  return {
    url,
    reused: false,
    stop() {
      stopping ??= (async () => {
        if (gone()) return;
        // SIGTERM: Redis's orderly shutdown, which flushes and fsyncs the AOF before exiting.
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          log.warn({ pid: child.pid, timeoutMs: STOP_TIMEOUT_MS }, 'embedded redis-server did not exit on SIGTERM: killing it');
          child.kill('SIGKILL');
        }, STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
        log.info({ pid: child.pid }, 'embedded redis-server stopped');
      })();
      return stopping;
    },
  };
}
