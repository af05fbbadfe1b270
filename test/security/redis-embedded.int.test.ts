/**
 * The embedded redis-server is not open to every local user: it asks for a generated password,
 * kept 0600 in its data folder and reused, on no process's command line or environment, and it
 * will not silently go on serving without one. Only npm start starts it: a pool, a front end or
 * the dashboard without REDIS_URL reuses a running one or refuses to start, naming REDIS_URL.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/paths.js';
import { createRedis, useRedisConnectionSettings } from '../../src/redis/connection.js';
import { embeddedPasswordFile, startEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded-redis.js';
import { acceptsConnections, startRedisServerProcess } from '../../src/redis/redis-server-process.js';
import { freePort, startRedis } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

const logger = { info: () => undefined, warn: () => undefined };
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'orq-sec-redis-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startEmbedded(dataDir: string, port: number): Promise<EmbeddedRedis> {
  const e = await startEmbeddedRedis({ dataDir, port, logger });
  cleanups.push(() => e.stop());
  return e;
}

/** The reply to one raw command on a fresh connection, with no client library in between. */
function rawReply(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port });
    let data = '';
    s.on('data', (d) => {
      data += d.toString();
      if (data.includes('\r\n')) {
        s.destroy();
        resolve(data.trim());
      }
    });
    s.on('error', reject);
    s.on('connect', () => s.write(`${command}\r\n`));
  });
}

async function withClient<T>(url: string, password: string | undefined, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis(url, { password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false });
  r.on('error', () => undefined);
  try {
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** A process's command line and environment, NULs as spaces; '' once it is gone. */
function procText(pid: number): string {
  try {
    return ['cmdline', 'environ'].map((f) => readFileSync(`/proc/${pid}/${f}`).toString().replace(/\0/g, ' ')).join('\n');
  } catch {
    return '';
  }
}

/** `root` and every process descending from it. */
function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // The command name (field 2) may hold spaces; the ppid follows its closing parenthesis.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, ppid] of parent) if (ppid === out[i]) out.push(pid);
  return out;
}

function run(script: string, args: string[]) {
  const child = spawn(process.execPath, [join(PROJECT_ROOT, script), ...args], {
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  return { child, exited, output: () => out };
}

describe('embedded Redis credentials', () => {
  it('refuses a client without its password or with a wrong one, and serves one with it, on loopback only', async () => {
    const port = await freePort();
    const e = await startEmbedded(join(tempDir(), 'redis'), port);
    expect(e.url).toBe(`redis://127.0.0.1:${port}`);
    expect(e.password).toMatch(/^[0-9a-f]{64}$/);

    expect(await rawReply(port, 'PING')).toMatch(/^-NOAUTH/);
    expect(await rawReply(port, 'SET injected job')).toMatch(/^-NOAUTH/);
    expect(await rawReply(port, 'AUTH not-the-password')).toMatch(/^-WRONGPASS/);
    await expect(withClient(e.url, undefined, (r) => r.connect().then(() => r.get('x')))).rejects.toThrow(/NOAUTH/);

    await withClient(e.url, e.password, async (r) => {
      await r.connect();
      expect(await r.ping()).toBe('PONG');
      expect(await r.config('GET', 'bind')).toEqual(['bind', '127.0.0.1']);
    });
  });

  it('keeps the password 0600 in a 0700 data folder, reuses it on later starts, and tightens a loose file', async () => {
    const dataDir = join(tempDir(), 'redis');
    const port = await freePort();
    const first = await startEmbedded(dataDir, port);
    const file = embeddedPasswordFile(dataDir);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.password);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    await withClient(first.url, first.password, (r) => r.set('kept', 'yes'));
    await first.stop();

    chmodSync(file, 0o644);
    const second = await startEmbedded(dataDir, port);
    expect(second.reused).toBe(false);
    expect(second.password).toBe(first.password);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await withClient(second.url, first.password, (r) => r.get('kept'))).toBe('yes');

    // A second process finding the running server reads the same file.
    const again = await startEmbeddedRedis({ dataDir, port, logger });
    expect(again.reused).toBe(true);
    expect(again.password).toBe(first.password);
  });

  it('two data folders get different passwords', async () => {
    const a = await startEmbedded(join(tempDir(), 'redis'), await freePort());
    const b = await startEmbedded(join(tempDir(), 'redis'), await freePort());
    expect(a.password).not.toBe(b.password);
  });

  it('a password with quotes, backslashes and spaces reaches redis-server intact through its stdin config', async () => {
    const password = 'a "quoted" \\ back slash and spaces #not-a-comment @:/%41';
    const server = await startRedis({ password });
    cleanups.push(() => server.stop());
    expect(await rawReply(server.port, 'PING')).toMatch(/^-NOAUTH/);
    expect(await withClient(server.url, password, (r) => r.ping())).toBe('PONG');
    expect(procText(server.pid!)).not.toContain('quoted');
    // Our connections get it from the process's settings, through the URL ioredis parses.
    useRedisConnectionSettings({ password });
    const ours = createRedis(server.url, { maxRetriesPerRequest: 0 });
    try {
      expect(await ours.ping()).toBe('PONG');
    } finally {
      ours.disconnect();
      useRedisConnectionSettings({});
    }
  });

  it('an ACL user named in the URL gets its password from the URL or from the process settings', async () => {
    const server = await startRedis({ password: 'admin-password' });
    cleanups.push(() => server.stop());
    await withClient(server.url, 'admin-password', (r) => r.call('ACL', 'SETUSER', 'orq', 'on', '>orq-password', '~*', '&*', '+@all'));
    const whoami = async (url: string) => {
      const r = createRedis(url, { maxRetriesPerRequest: 0 });
      try {
        return await r.call('ACL', 'WHOAMI');
      } finally {
        r.disconnect();
      }
    };
    const at = `127.0.0.1:${server.port}`;
    expect(await whoami(`redis://orq:orq-password@${at}`)).toBe('orq');
    useRedisConnectionSettings({ password: 'orq-password' });
    try {
      expect(await whoami(`redis://orq@${at}`)).toBe('orq');
      // A password in the URL wins over the settings.
      await expect(whoami(`redis://orq:wrong@${at}`)).rejects.toThrow(/WRONGPASS|NOAUTH/);
    } finally {
      useRedisConnectionSettings({});
    }
  });

  it('refuses a server for its data folder that has no password (an older version), saying how to stop it', async () => {
    const dataDir = join(tempDir(), 'redis');
    const port = await freePort();
    const old = await startEmbedded(dataDir, port);
    await old.stop();
    const unprotected = await startRedisServerProcess({ port, dir: dataDir, appendonly: true, logFile: join(dataDir, 'old.log') });
    cleanups.push(() => unprotected.stop());
    await expect(startEmbeddedRedis({ dataDir, port, logger })).rejects.toThrow(/has no password \(an older version started it\).*redis-cli -p \d+ shutdown/);
    expect(await rawReply(port, 'PING')).toBe('+PONG');
  });

  it('refuses a server on its port that does not take the password in its file', async () => {
    const dataDir = join(tempDir(), 'redis');
    const port = await freePort();
    await startEmbedded(dataDir, port);
    writeFileSync(embeddedPasswordFile(dataDir), 'a-replaced-password\n', { mode: 0o600 });
    await expect(startEmbeddedRedis({ dataDir, port, logger })).rejects.toThrow(/refuses the embedded server's password/);
  });

  it('npm start hands the password to its processes on no command line or environment, nor in its output; a pool started by hand finds it', async () => {
    const dir = tempDir();
    const dataDir = join(dir, 'redis');
    const config = join(dir, 'c.toml');
    writeFileSync(
      config,
      `[redis.embedded]\ndataDir = "${dataDir}"\nport = ${await freePort()}\n[grpc]\naddr = "127.0.0.1:${await freePort()}"\n[http]\naddr = "127.0.0.1:0"\n`,
    );
    const start = run('dist/src/bin/start.js', ['--demo', '--config', config, '--log-level', 'info']);
    // The demo's last task: everything npm start runs is up and has worked.
    await waitFor(() => /workflow demo-diamond, run demo-\w+: succeeded/.test(start.output()), { timeoutMs: 60_000, message: 'npm start --demo done' });
    const password = readFileSync(embeddedPasswordFile(dataDir), 'utf8').trim();

    const pool = run('dist/workers/main.js', ['--config', config, '--classes', 'cpu_short:1']);
    await waitFor(() => pool.output().includes('pool started'), { timeoutMs: 60_000, message: 'hand-started pool' });

    // The redis-server, the orchestrator and pool of npm start, their sandbox children, and the pool started by hand.
    const pids = [...processTree(start.child.pid!), ...processTree(pool.child.pid!)];
    const texts = pids.map((pid) => [pid, procText(pid)] as const).filter(([, t]) => t);
    expect(texts.some(([, t]) => t.includes('redis-server'))).toBe(true);
    expect(texts.length).toBeGreaterThanOrEqual(3);
    for (const [pid, text] of texts) expect(text.includes(password), `process ${pid}: ${text.slice(0, 200)}`).toBe(false);

    pool.child.kill('SIGTERM');
    expect(await pool.exited).toBe(0);
    start.child.kill('SIGTERM');
    expect(await start.exited).toBe(0);
    expect(start.output()).not.toContain(password);
    expect(pool.output()).not.toContain(password);
    expect(readFileSync(join(dataDir, 'redis.log'), 'utf8')).not.toContain(password);
  });

  it('a pool, a front end or the dashboard without REDIS_URL and no embedded server running exits 2 naming REDIS_URL, and starts no redis-server', async () => {
    const dir = tempDir();
    const dataDir = join(dir, 'redis');
    const port = await freePort();
    const config = join(dir, 'c.toml');
    writeFileSync(config, `[redis.embedded]\ndataDir = "${dataDir}"\nport = ${port}\n[grpc]\naddr = "127.0.0.1:0"\n[http]\naddr = "127.0.0.1:0"\n`);
    const entries = [
      ['a worker pool', 'dist/workers/main.js', '--classes', 'cpu_short:1'],
      ['the orchestrator', 'dist/src/bin/orchestrator.js'],
      ['the dashboard', 'dist/src/bin/dashboard.js'],
    ];
    for (const [what, script, ...args] of entries) {
      const p = run(script!, ['--config', config, ...args]);
      expect(await p.exited, `${what}: ${p.output()}`).toBe(2);
      expect(p.output()).toMatch(
        new RegExp(
          `no REDIS_URL, and no embedded redis-server runs on 127\\.0\\.0\\.1:${port} for .*: ${what} does not start a Redis of its own \\(only npm start does\\); set REDIS_URL`,
        ),
      );
      // Nothing was started or created: no server on the port, no data folder, no password.
      expect(await acceptsConnections(port)).toBe(false);
      expect(existsSync(dataDir)).toBe(false);
    }
  });
});
