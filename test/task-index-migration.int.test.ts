/**
 * Upgrading from the one-hash task index (`{orq}:tasks`) to its buckets: the start-up migration
 * (src/tasks/task-index-migration.ts) against a real Redis, interrupted mid-way and resumed by
 * another orchestrator once the lock's TTL ran out; then a whole upgrade, with the keys a
 * previous version wrote, through a real orchestrator process.
 */
import { status } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TaskState } from '../src/gen/orchestrator/v1/orchestrator.js';
import { createLogger } from '../src/logging/logger.js';
import { keys as makeKeys } from '../src/store/keys.js';
import { countIndexedTasks } from '../src/store/tasks/read-task-index.js';
import { migrateLegacyTaskIndex } from '../src/tasks/task-index-migration.js';
import { grpcError } from './helpers/grpc.js';
import { startRedis, type RedisServerHandle } from './helpers/redis-server.js';
import { startBareSystem } from './helpers/system.js';

const keys = makeKeys('orq');
const logger = createLogger('warn', { process: 'test-migration' });
const N = 2_500;
/** A previous version's value: the class and the whole 27-char digest. */
const legacyValue = (i: number) => `cpu_short\tD${String(i).padStart(11, '0')}xxxxxxxxxxxxxxx`;

let server: RedisServerHandle;
let redis: Redis;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});
beforeEach(async () => {
  await redis.flushall();
});

async function writeLegacyIndex(): Promise<void> {
  const pipe = redis.pipeline();
  for (let i = 0; i < N; i++) pipe.hset(keys.legacyTaskIndex, `old-${i}`, legacyValue(i));
  await pipe.exec();
}

describe('the task index migration', () => {
  it('moves every entry unchanged; a run killed mid-way is resumed by the next orchestrator after the lock TTL', async () => {
    await writeLegacyIndex();
    // An entry already in its bucket (moved by a batch whose holder died before its HDEL could
    // be seen, or written since) keeps the bucket's value.
    await redis.hset(keys.taskIndex('old-7'), 'old-7', 'cpu_short\tkeptInBucket');

    // The first orchestrator "dies" after two batches: the lock stays held until its TTL.
    const died = await migrateLegacyTaskIndex({
      redis,
      keys,
      logger,
      ownerId: 'first',
      batch: 200,
      lockTtlMs: 1_500,
      afterBatch: (moved) => {
        if (moved >= 400) throw new Error('killed');
      },
    }).catch((e: Error) => e.message);
    expect(died).toBe('killed');
    const left = await redis.hlen(keys.legacyTaskIndex);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(N);
    expect(await redis.get(keys.migrationLock)).toBe('first');

    // The next one waits for the lock, then moves what is left.
    const t0 = Date.now();
    const moved = await migrateLegacyTaskIndex({ redis, keys, logger, ownerId: 'second', batch: 200, pollMs: 50 });
    expect(moved).toBe(left);
    expect(Date.now() - t0).toBeGreaterThan(200);
    expect(await redis.exists(keys.legacyTaskIndex)).toBe(0);
    expect(await redis.exists(keys.migrationLock)).toBe(0);
    expect(await countIndexedTasks(redis, keys)).toBe(N);
    for (const i of [0, 1, 399, 400, 1_234, N - 1]) expect(await redis.hget(keys.taskIndex(`old-${i}`), `old-${i}`)).toBe(legacyValue(i));
    expect(await redis.hget(keys.taskIndex('old-7'), 'old-7')).toBe('cpu_short\tkeptInBucket');

    // Idempotent: nothing left, nothing moved, nothing changed.
    expect(await migrateLegacyTaskIndex({ redis, keys, logger, ownerId: 'third' })).toBe(0);
    expect(await countIndexedTasks(redis, keys)).toBe(N);
  });

  it('does nothing on a store that never had the previous index', async () => {
    expect(await migrateLegacyTaskIndex({ redis, keys, logger, ownerId: 'fresh' })).toBe(0);
    expect(await redis.dbsize()).toBe(0);
  });
});

describe('an upgrade from the one-hash index', () => {
  it('serves the tasks the previous version indexed: status, same-content resubmission, conflicts', async () => {
    const sys = await startBareSystem();
    try {
      // Tasks queued (cpu_long has no pool here), then their index entries rewritten the way the
      // previous version kept them: one hash, the whole digest.
      const first = await sys.startOrchestrator();
      const inputs = Array.from({ length: 50 }, (_, i) => ({ taskId: `up-${i}`, taskClass: 'cpu_long', payload: { i: String(i) } }));
      await first.client.submitTasks(inputs);
      first.kill('SIGKILL');
      await first.exited;
      for (const t of inputs) {
        const v = await sys.r.hget(sys.keys.taskIndex(t.taskId), t.taskId);
        await sys.r.hset(sys.keys.legacyTaskIndex, t.taskId, `${v}ABCDEFGHIJKLMNO`);
        await sys.r.hdel(sys.keys.taskIndex(t.taskId), t.taskId);
      }
      expect(await countIndexedTasks(sys.r, sys.keys)).toBe(0);

      const next = await sys.startOrchestrator();
      expect(await sys.r.exists(sys.keys.legacyTaskIndex)).toBe(0);
      expect(await countIndexedTasks(sys.r, sys.keys)).toBe(inputs.length);
      expect(await sys.r.hget(sys.keys.taskIndex('up-3'), 'up-3')).toMatch(/^cpu_long\t[A-Za-z0-9_-]{12}ABCDEFGHIJKLMNO$/);
      const st = await next.client.getTaskStatus('up-3');
      expect(st).toMatchObject({ taskId: 'up-3', taskClass: 'cpu_long', state: TaskState.TASK_STATE_QUEUED });
      // The same content again is the same task (its long digest starts with today's short one).
      const again = await next.client.submitTasks(inputs.slice(0, 5));
      expect(again.map((r) => r.created)).toEqual([false, false, false, false, false]);
      const err = await grpcError(next.client.submitTask({ ...inputs[0]!, payload: { other: 'content' } }));
      expect(err.code).toBe(status.ALREADY_EXISTS);
      expect(err.details).toContain('up-0');
      expect(await countIndexedTasks(sys.r, sys.keys)).toBe(inputs.length);
    } finally {
      await sys.stop();
    }
  }, 120_000);
});
