import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { acceptsConnections } from '../src/redis/redis-server-process.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ensureRedisServer, startEmbeddedRedis, type EmbeddedRedis } from '../src/redis/embedded-redis.js';
import { freePort, startRedis } from './helpers/redis-server.js';

function testLogger() {
  const lines: string[] = [];
  return {
    lines,
    info: (obj: object, msg?: string) => void lines.push(`info ${msg ?? ''} ${JSON.stringify(obj)}`),
    warn: (obj: object, msg?: string) => void lines.push(`warn ${msg ?? ''} ${JSON.stringify(obj)}`),
  };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  vi.restoreAllMocks();
});

function tempDataDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'orq-embedded-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  return join(root, 'nested', 'redis');
}

async function start(dataDir: string, port: number): Promise<EmbeddedRedis> {
  const e = await startEmbeddedRedis({ dataDir, port, logger: testLogger() });
  cleanups.push(() => e.stop());
  return e;
}

async function withClient<T>(e: EmbeddedRedis, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis(e.url, { password: e.password });
  try {
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

describe('embedded redis-server', () => {
  it('keeps data across a stop and a start in the same dataDir (AOF), configured as production', async () => {
    const dataDir = tempDataDir();
    const port = await freePort();

    const first = await start(dataDir, port);
    expect(first.reused).toBe(false);
    expect(first.url).toBe(`redis://127.0.0.1:${port}`);
    await withClient(first, async (r) => {
      await r.set('survives', 'restart');
      expect(await r.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await r.config('GET', 'appendfsync')).toEqual(['appendfsync', 'everysec']);
      expect(await r.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
      expect(await r.config('GET', 'hash-max-listpack-value')).toEqual(['hash-max-listpack-value', '512']);
      expect(await r.config('GET', 'save')).toEqual(['save', '']);
    });
    await first.stop();
    expect(await acceptsConnections(port)).toBe(false);
    expect(existsSync(join(dataDir, 'redis.log'))).toBe(true);

    const second = await start(dataDir, port);
    expect(second.reused).toBe(false);
    expect(await withClient(second, (r) => r.get('survives'))).toBe('restart');
    await second.stop();
    expect(await acceptsConnections(port)).toBe(false);
  });

  it('reuses a server already running for the same dataDir, and leaves it running on stop()', async () => {
    const dataDir = tempDataDir();
    const port = await freePort();
    const first = await start(dataDir, port);

    const log = testLogger();
    const again = await startEmbeddedRedis({ dataDir, port, logger: log });
    expect(again.reused).toBe(true);
    expect(again.url).toBe(first.url);
    expect(log.lines.join('\n')).toContain('reusing');
    await again.stop();
    expect(await withClient(first, (r) => r.ping())).toBe('PONG');

    await first.stop();
    expect(await acceptsConnections(port)).toBe(false);
  });

  it('refuses a port taken by a Redis for another directory, naming REDIS_URL', async () => {
    const other = await startRedis();
    cleanups.push(() => other.stop());
    await expect(startEmbeddedRedis({ dataDir: tempDataDir(), port: other.port, logger: testLogger() })).rejects.toThrow(
      /taken by a Redis serving .*REDIS_URL/,
    );
  });

  it('reports the log tail when redis-server exits at start', async () => {
    const dataDir = tempDataDir();
    const port = await freePort();
    await (await start(dataDir, port)).stop();
    // A corrupt AOF manifest makes the next start fail.
    const manifest = join(dataDir, 'appendonlydir', 'appendonly.aof.manifest');
    expect(existsSync(manifest)).toBe(true);
    writeFileSync(manifest, 'not a manifest\n');
    await expect(startEmbeddedRedis({ dataDir, port, logger: testLogger() })).rejects.toThrow(/exited at start[\s\S]*redis\.log\) ends:\n.*\S/);
    expect(await acceptsConnections(port)).toBe(false);
  });

  it('says what to install when redis-server is missing and it cannot install it', () => {
    const path = process.env.PATH;
    cleanups.push(() => {
      process.env.PATH = path;
    });
    const empty = mkdtempSync(join(tmpdir(), 'orq-empty-path-'));
    cleanups.push(() => rmSync(empty, { recursive: true, force: true }));
    process.env.PATH = empty;
    vi.spyOn(process as { getuid(): number }, 'getuid').mockReturnValue(1000);
    expect(() => ensureRedisServer(testLogger())).toThrow(/not running as root.*apt-get install redis-server.*brew install redis.*REDIS_URL/);
  });
});
