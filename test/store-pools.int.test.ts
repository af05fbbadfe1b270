/**
 * The store's plain writes for pools and Slurm job ids against a real Redis (src/store/pools/,
 * src/store/slurm/): what each leaves in Redis, what it publishes, and that each pool write is
 * one transaction (one MULTI/EXEC) as before they moved into the store.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { keys as makeKeys } from '../src/store/keys.js';
import { cancelDrain } from '../src/store/pools/cancel-drain.js';
import { poolHeartbeat } from '../src/store/pools/pool-heartbeat.js';
import { poolLeft } from '../src/store/pools/pool-left.js';
import { poolRejoined } from '../src/store/pools/pool-rejoined.js';
import { requestDrain } from '../src/store/pools/request-drain.js';
import { keepSlurmJobId, slurmJobEnded } from '../src/store/slurm/slurm-job-ids.js';
import { startRedis, type RedisServerHandle } from './helpers/redis-server.js';
import { waitFor } from './helpers/wait.js';

const keys = makeKeys('orq');
const HEARTBEAT_MS = 1_000;
const GONE_MS = 60_000;

let server: RedisServerHandle;
let redis: Redis;
let sub: Redis;
const messages: string[] = [];

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  sub = new Redis(server.url, { maxRetriesPerRequest: 1 });
  sub.on('message', (channel: string, message: string) => {
    if (channel === keys.poolDrainChannel) messages.push(message);
  });
  await sub.subscribe(keys.poolDrainChannel);
});
afterAll(async () => {
  sub?.disconnect();
  redis?.disconnect();
  await server?.stop();
});
beforeEach(async () => {
  await redis.flushall();
  messages.length = 0;
});

/** How many MULTIs and EXECs Redis ran since `resetStats()`. */
async function transactions(): Promise<{ multi: number; exec: number }> {
  const info = await redis.info('commandstats');
  const calls = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
  return { multi: calls('multi'), exec: calls('exec') };
}
const resetStats = () => redis.config('RESETSTAT');

describe('pools/request-drain and cancel-drain', () => {
  it('stores the drain asked and publishes the pool id; the cancel clears it and publishes again', async () => {
    await requestDrain(redis, keys)('p1', 'exit');
    expect(await redis.hget(keys.poolDrain, 'p1')).toBe('exit');
    await waitFor(() => messages.length === 1, { message: 'drain message' });
    expect(messages).toEqual(['p1']);

    await cancelDrain(redis, keys)('p1');
    expect(await redis.hexists(keys.poolDrain, 'p1')).toBe(0);
    await waitFor(() => messages.length === 2, { message: 'resume message' });
    expect(messages).toEqual(['p1', 'p1']);
  });

  it('each is one transaction', async () => {
    await resetStats();
    await requestDrain(redis, keys)('p1', 'stay');
    await cancelDrain(redis, keys)('p1');
    expect(await transactions()).toEqual({ multi: 2, exec: 2 });
  });
});

describe('pools/pool-heartbeat', () => {
  const beat: ReturnType<typeof poolHeartbeat> = (poolId, b) => poolHeartbeat(redis, keys)(poolId, b);

  it('scores the pool, writes its facts with their expiry, trims old pools from both zsets, in one transaction', async () => {
    const now = 10_000_000;
    await redis.zadd(keys.pools, now - GONE_MS - 1, 'old-live', now - 5, 'other');
    await redis.zadd(keys.poolsGone, now - GONE_MS - 1, 'old-gone', now - 5, 'recent-gone');
    await resetStats();

    const drain = await beat('p1', { nowMs: now, facts: { host: 'h', pid: '7' }, goneListedMs: GONE_MS, heartbeatMs: HEARTBEAT_MS });

    expect(drain).toBeNull();
    expect(await transactions()).toEqual({ multi: 1, exec: 1 });
    expect(await redis.zrange(keys.pools, 0, -1, 'WITHSCORES')).toEqual(['other', String(now - 5), 'p1', String(now)]);
    expect(await redis.zrange(keys.poolsGone, 0, -1)).toEqual(['recent-gone']);
    expect(await redis.hgetall(keys.pool('p1'))).toEqual({ host: 'h', pid: '7' });
    const ttl = await redis.pttl(keys.pool('p1'));
    expect(ttl).toBeGreaterThan(GONE_MS);
    expect(ttl).toBeLessThanOrEqual(GONE_MS + 3 * HEARTBEAT_MS);
  });

  it('reads back the drain asked of the pool, as stored', async () => {
    await redis.hset(keys.poolDrain, 'p1', 'stay', 'p2', 'exit');
    const args = { nowMs: Date.now(), facts: { host: 'h' }, goneListedMs: GONE_MS, heartbeatMs: HEARTBEAT_MS };
    expect(await beat('p1', args)).toBe('stay');
    expect(await beat('p2', args)).toBe('exit');
    // A value no one should have written comes back as it is: the pool ignores it.
    await redis.hset(keys.poolDrain, 'p1', 'bogus');
    expect(await beat('p1', args)).toBe('bogus');
  });
});

describe('pools/pool-rejoined and pool-left', () => {
  it('a rejoin forgets the last life’s drain and stop time and keeps the other facts', async () => {
    await redis.hset(keys.poolDrain, 'p1', 'exit', 'p2', 'stay');
    await redis.hset(keys.pool('p1'), { host: 'h', stopped: '123' });
    await resetStats();
    await poolRejoined(redis, keys)('p1');
    expect(await transactions()).toEqual({ multi: 1, exec: 1 });
    expect(await redis.hgetall(keys.poolDrain)).toEqual({ p2: 'stay' });
    expect(await redis.hgetall(keys.pool('p1'))).toEqual({ host: 'h' });
  });

  it('leaving moves the pool to the gone zset, marks it stopped and idle, expires its facts, clears its drain', async () => {
    const now = 20_000_000;
    await redis.zadd(keys.pools, now - 10, 'p1', now - 10, 'p2');
    await redis.hset(keys.pool('p1'), { host: 'h', busy: '3' });
    await redis.hset(keys.poolDrain, 'p1', 'exit');
    await resetStats();

    await poolLeft(redis, keys)('p1', now, GONE_MS);

    expect(await transactions()).toEqual({ multi: 1, exec: 1 });
    expect(await redis.zrange(keys.pools, 0, -1)).toEqual(['p2']);
    expect(await redis.zrange(keys.poolsGone, 0, -1, 'WITHSCORES')).toEqual(['p1', String(now)]);
    expect(await redis.hgetall(keys.pool('p1'))).toEqual({ host: 'h', busy: '0', stopped: String(now) });
    const ttl = await redis.pttl(keys.pool('p1'));
    expect(ttl).toBeGreaterThan(GONE_MS - 5_000);
    expect(ttl).toBeLessThanOrEqual(GONE_MS);
    expect(await redis.hexists(keys.poolDrain, 'p1')).toBe(0);
  });
});

describe('slurm/slurm-job-ids', () => {
  it('keeps an attempt’s job id for its time to live, then shortens it once the job ended', async () => {
    const key = keys.slurmJob('t1', 2);
    await keepSlurmJobId(redis, keys)('t1', 2, '4242', 8 * 86_400_000);
    expect(await redis.get(key)).toBe('4242');
    expect(await redis.pttl(key)).toBeGreaterThan(7 * 86_400_000);

    await slurmJobEnded(redis, keys)('t1', 2, 3_600_000);
    expect(await redis.get(key)).toBe('4242');
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(3_000_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
  });

  it('an ended job whose id is gone leaves nothing behind', async () => {
    await slurmJobEnded(redis, keys)('t1', 1, 3_600_000);
    expect(await redis.exists(keys.slurmJob('t1', 1))).toBe(0);
  });
});
