/**
 * The embedded default: when no REDIS_URL is configured, `npm start` runs a local redis-server
 * as production would (AOF everysec, noeviction), with its data kept under the project folder so
 * queued work survives a restart. A server already running on that port for the same data
 * directory is reused, so two processes started on one machine share it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';

export interface EmbeddedRedisOptions {
  /** Where the AOF and the log live. @default '.orchestrator/redis' */
  dataDir: string;
  /** Port on 127.0.0.1. @default 6390 */
  port: number;
  logger: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

export interface EmbeddedRedis {
  url: string;
  /** Whether an already running server was reused (stop() then leaves it running). */
  reused: boolean;
  stop(): Promise<void>;
}

function which(cmd: string): string | undefined {
  for (const dir of ['/usr/bin', '/usr/local/bin', '/usr/sbin', '/bin', '/opt/homebrew/bin']) {
    if (existsSync(`${dir}/${cmd}`)) return `${dir}/${cmd}`;
  }
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Asks Redis on `url` for its data directory; undefined when nothing answers. */
async function dirOf(url: string): Promise<string | undefined> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  r.on('error', () => undefined);
  try {
    await r.connect();
    const [, dir] = (await r.config('GET', 'dir')) as [string, string];
    return dir;
  } catch {
    return undefined;
  } finally {
    r.disconnect();
  }
}

function installRedis(log: EmbeddedRedisOptions['logger']): void {
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !which('apt-get')) return;
  log.info({}, 'redis-server is missing: installing it with apt-get (Debian package redis-server)');
  const install = () =>
    execFileSync('apt-get', ['install', '-y', 'redis-server'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  try {
    install();
  } catch {
    execFileSync('apt-get', ['update'], { stdio: 'ignore' });
    install();
  }
}

/**
 * The path of redis-server, installing Debian's package first when it is missing and we can
 * (root, apt-get); otherwise an error saying exactly what to install.
 */
export function ensureRedisServer(log: EmbeddedRedisOptions['logger']): string {
  let bin = which('redis-server');
  if (!bin) {
    try {
      installRedis(log);
    } catch (err) {
      log.warn({ err }, 'installing redis-server failed');
    }
    bin = which('redis-server');
  }
  if (!bin) {
    throw new Error(
      'redis-server not found. Install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL to a running Redis',
    );
  }
  return bin;
}

export async function startEmbeddedRedis(opts: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  const dataDir = resolve(opts.dataDir);
  const url = `redis://127.0.0.1:${opts.port}`;
  const running = await dirOf(url);
  if (running !== undefined) {
    if (running === dataDir) return { url, reused: true, stop: async () => undefined };
    throw new Error(`port ${opts.port} is taken by a Redis serving ${running}: set REDIS_URL to use it, or redis.embedded.port for another`);
  }

  const bin = ensureRedisServer(opts.logger);
  mkdirSync(dataDir, { recursive: true });
  const logFile = resolve(dataDir, 'redis.log');
  const out = openSync(logFile, 'a');
  const child = spawn(
    bin,
    [
      '--port',
      String(opts.port),
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
    ],
    { stdio: ['ignore', out, out], detached: true },
  );
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const deadline = Date.now() + 20_000;
  while ((await dirOf(url)) === undefined) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      const tail = readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
      throw new Error(`embedded redis-server did not start on port ${opts.port}; its log (${logFile}) ends:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  opts.logger.info({ url, dataDir, pid: child.pid }, 'embedded redis-server started');
  return {
    url,
    reused: false,
    async stop() {
      if (child.exitCode !== null) return;
      // SIGTERM makes Redis fsync its AOF before exiting.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
