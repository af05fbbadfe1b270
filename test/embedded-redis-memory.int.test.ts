/**
 * The embedded redis-server has a maxmemory by default (redis.embedded.maxMemoryBytes) with
 * noeviction, started through the same path as `npm start` (resolveRedis), and a server reused
 * from an earlier start is given the configured value.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultEmbeddedMaxMemoryBytes, loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/logging/logger.js';
import { resolveRedis } from '../src/process/redis-url.js';
import { startEmbeddedRedis } from '../src/redis/embedded-redis.js';
import { freePort } from './helpers/redis-server.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function configOf(r: Redis, key: string): Promise<string> {
  return ((await r.config('GET', key)) as [string, string])[1];
}

describe('the embedded redis-server', () => {
  it('starts with the default maxmemory and noeviction, and a reused one takes the configured value', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'orq-embedded-mem-')), 'redis');
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const port = await freePort();
    const config = loadConfig({ env: {}, overrides: { redis: { embedded: { dataDir, port } } } });
    const started = await resolveRedis(config, createLogger('silent'), { startEmbedded: true, what: 'npm start' });
    cleanups.push(() => started.stop());

    const password = readFileSync(join(dataDir, 'password'), 'utf8').trim();
    const r = new Redis(started.url, { password, maxRetriesPerRequest: 1 });
    cleanups.push(() => r.disconnect());
    expect(Number(await configOf(r, 'maxmemory'))).toBe(defaultEmbeddedMaxMemoryBytes());
    expect(Number(await configOf(r, 'maxmemory'))).toBeGreaterThan(0);
    expect(await configOf(r, 'maxmemory-policy')).toBe('noeviction');

    // A second start finds it running and gives it what its config says.
    const again = await startEmbeddedRedis({ dataDir, port, logger: { info: () => undefined, warn: () => undefined }, maxMemoryBytes: 64 << 20 });
    expect(again.reused).toBe(true);
    expect(Number(await configOf(r, 'maxmemory'))).toBe(64 << 20);
    expect(await configOf(r, 'maxmemory-policy')).toBe('noeviction');
  });
});
