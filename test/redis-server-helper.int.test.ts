import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { acceptsConnections } from '../src/redis/redis-server-process.js';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedis, type RedisServerHandle } from './helpers/redis-server.js';
import { waitFor } from './helpers/wait.js';

const started: RedisServerHandle[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
});

describe('startRedis (test helper)', () => {
  it('starts a throwaway server that answers, and stop() closes its port and removes its dir', async () => {
    const srv = await startRedis();
    started.push(srv);
    expect(srv.url).toBe(`redis://127.0.0.1:${srv.port}`);
    expect(existsSync(`${srv.dir}/redis.log`)).toBe(true);

    const r = new Redis(srv.url);
    try {
      await r.set('k', 'v');
      expect(await r.get('k')).toBe('v');
      expect(await r.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
      expect(await r.config('GET', 'hash-max-listpack-value')).toEqual(['hash-max-listpack-value', '512']);
      expect(await r.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
      expect(await r.config('GET', 'save')).toEqual(['save', '']);
      expect(await r.config('GET', 'bind')).toEqual(['bind', '127.0.0.1']);
    } finally {
      r.disconnect();
    }

    await srv.stop();
    expect(await acceptsConnections(srv.port)).toBe(false);
    expect(existsSync(srv.dir)).toBe(false);
    await srv.stop(); // a second stop is harmless
  });

  it('runs several at once on distinct ports, with AOF when asked', async () => {
    const servers = await Promise.all([startRedis(), startRedis({ appendonly: true }), startRedis()]);
    started.push(...servers);
    expect(new Set(servers.map((s) => s.port)).size).toBe(3);
    const r = new Redis(servers[1].url);
    try {
      expect(await r.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    } finally {
      r.disconnect();
    }
  });
});

describe('waitFor', () => {
  it('returns the first truthy value, retrying through errors', async () => {
    let n = 0;
    const v = await waitFor(() => {
      n++;
      if (n < 3) throw new Error('not yet');
      return n >= 5 ? { n } : 0;
    });
    expect(v).toEqual({ n: 5 });
  });

  it('reports the message and the last error on timeout', async () => {
    await expect(
      waitFor(
        () => {
          throw new Error('still broken');
        },
        { timeoutMs: 100, intervalMs: 10, message: 'the thing never happened' },
      ),
    ).rejects.toThrow(/the thing never happened within 100 ms; last error: still broken/);
    await expect(waitFor(() => false, { timeoutMs: 50 })).rejects.toThrow(/condition not met within 50 ms/);
  });
});
