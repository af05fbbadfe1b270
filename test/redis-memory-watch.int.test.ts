/**
 * The Redis memory watch behind the submission high-water mark, on a real redis-server: the mark
 * follows maxmemory, the state goes over at the mark and back under only below 95 % of it
 * (hysteresis), says so in its log, and is `unknown` (submissions not held) while INFO cannot be
 * read.
 */
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEMORY_RESUME_FRACTION, RedisMemoryWatch } from '../src/redis/redis-memory-watch.js';
import { startRedis, type RedisServerHandle } from './helpers/redis-server.js';

const MIB = 1 << 20;

let server: RedisServerHandle;
let r: Redis;
const lines: string[] = [];
const logger = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  }),
);

beforeAll(async () => {
  server = await startRedis();
  r = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined);
});
afterAll(async () => {
  r.disconnect();
  await server?.stop();
});

const used = async () => Number(/^used_memory:(\d+)/m.exec(await r.info('memory'))![1]);

describe('RedisMemoryWatch', () => {
  it('is off, and says why, while Redis has no maxmemory and no bytes are configured', async () => {
    const watch = new RedisMemoryWatch({ redis: r, intervalMs: 1_000, highWaterFraction: 0.8, highWaterBytes: 0, logger });
    await watch.check();
    expect(watch.current).toMatchObject({ state: 'off', markBytes: 0, maxBytes: 0 });
    expect(watch.current.usedBytes).toBeGreaterThan(0);
    expect(lines.join('')).toContain('no submission high-water mark: Redis has no maxmemory and redis.memoryHighWaterMarkBytes is 0');
  });

  it('goes over at the mark, and back under only below 95 % of it', async () => {
    // Memory stays put (a 10 MiB key) and the mark moves, through maxmemory, around it.
    await r.set('filler', 'x'.repeat(10 * MIB));
    const u = await used();
    const withMark = async (mark: number) => {
      await r.config('SET', 'maxmemory', String(Math.ceil(mark / 0.8)));
      await watch.check();
      return watch.current;
    };
    const watch = new RedisMemoryWatch({ redis: r, intervalMs: 1_000, highWaterFraction: 0.8, highWaterBytes: 0, logger });
    const under = await withMark(u * 2);
    expect(under).toMatchObject({ state: 'under', maxBytes: Math.ceil((u * 2) / 0.8) });
    expect(under.markBytes).toBe(Math.floor(under.maxBytes * 0.8));
    expect(lines.join('')).toContain('submission high-water mark');

    expect((await withMark(u - 512 * 1024)).state).toBe('over');
    expect(lines.join('')).toContain('above the high-water mark');
    // Used memory at 97.5 % of the mark: between 95 % and the mark, still over.
    expect((await withMark(u / ((1 + MEMORY_RESUME_FRACTION) / 2))).state).toBe('over');
    expect((await withMark(u / 0.9)).state).toBe('under');
    expect(lines.join('')).toContain('below the high-water mark again: accepting submissions');
    // Without the way back through "over", 97.5 % is under.
    expect((await withMark(u / ((1 + MEMORY_RESUME_FRACTION) / 2))).state).toBe('under');
    await r.del('filler');
  });

  it('uses absolute bytes when configured, maxmemory or not', async () => {
    await r.config('SET', 'maxmemory', '0');
    const watch = new RedisMemoryWatch({ redis: r, intervalMs: 1_000, highWaterFraction: 0.8, highWaterBytes: (await used()) + 8 * MIB, logger });
    await watch.check();
    expect(watch.current.state).toBe('under');
    await r.set('filler', 'x'.repeat(10 * MIB));
    await watch.check();
    expect(watch.current.state).toBe('over');
    await r.del('filler');
  });

  it('is unknown, not over, while INFO cannot be read', async () => {
    const watch = new RedisMemoryWatch({ redis: r, intervalMs: 50, highWaterFraction: 0.8, highWaterBytes: 1, logger });
    await watch.start();
    expect(watch.current.state).toBe('over');
    await server.stop();
    await watch.check();
    expect(watch.current.state).toBe('unknown');
    expect(lines.join('')).toContain('cannot read Redis memory: submissions are not held back until it can');
    await watch.close();
  });
});
