/**
 * Upgrading from the one-hash task index (`{orq}:tasks`) and the zset task lists
 * (`{orq}:tasks:<class>`) to the index buckets and list streams: the start-up migration
 * (src/tasks/task-index-migration.ts) against a real Redis: a run failing mid-way, and a process
 * running it killed with SIGKILL mid-way, each resumed by another once the lock's TTL ran out;
 * then a whole upgrade, with the keys a previous version wrote, through a real orchestrator
 * process.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { status } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TaskState } from '../src/gen/orchestrator/v1/orchestrator.js';
import { createLogger } from '../src/logging/logger.js';
import { keys as makeKeys } from '../src/store/keys.js';
import { countIndexedTasks } from '../src/store/tasks/read-task-index.js';
import { migrateLegacyTaskIndex } from '../src/tasks/task-index-migration.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { grpcError } from './helpers/grpc.js';
import { waitFor } from './helpers/wait.js';
import { startRedis, type RedisServerHandle } from './helpers/redis-server.js';
import { startBareSystem } from './helpers/system.js';

const keys = makeKeys('orq');
const logger = createLogger('warn', { process: 'test-migration' });
const N = 2_500;
const CLASSES = ['cpu_short', 'cpu_long'];
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

/** The previous layout: the index hash, and every task in its class's zset at ms 1000 + i / 2 (two per ms). */
async function writeLegacyIndex(): Promise<void> {
  const pipe = redis.pipeline();
  for (let i = 0; i < N; i++)
    pipe.hset(keys.legacyTaskIndex, `old-${i}`, legacyValue(i)).zadd(keys.legacyTaskList('cpu_short'), 1_000 + Math.floor(i / 2), `old-${i}`);
  await pipe.exec();
}

describe('the task index migration', () => {
  it('moves every entry unchanged; a run that fails mid-way leaves its lock, and the next orchestrator resumes after its TTL', async () => {
    await writeLegacyIndex();
    // An entry already in its bucket (moved by a batch whose holder died before its HDEL could
    // be seen, or written since) keeps the bucket's value.
    await redis.hset(keys.taskIndex('old-7'), 'old-7', 'cpu_short\tkeptInBucket');

    // The first orchestrator "dies" after two batches: the lock stays held until its TTL.
    const died = await migrateLegacyTaskIndex({
      redis,
      keys,
      logger,
      classes: CLASSES,
      ownerId: 'first',
      batch: 200,
      lockTtlMs: 1_500,
      afterBatch: (moved) => {
        if (moved >= 400) throw new Error('killed');
      },
    }).catch((e: Error) => e.message);
    expect(died).toBe('killed');
    // Two batches of the list moved: 400 entries left the zset, with their index values.
    const left = await redis.zcard(keys.legacyTaskList('cpu_short'));
    expect(left).toBe(N - 400);
    expect(await redis.hlen(keys.legacyTaskIndex)).toBe(N);
    expect(await redis.get(keys.migrationLock)).toBe('first');

    // The next one waits for the lock, then moves what is left.
    const t0 = Date.now();
    const moved = await migrateLegacyTaskIndex({ redis, keys, logger, classes: CLASSES, ownerId: 'second', batch: 200, pollMs: 50 });
    // The rest of the list, then the index.
    expect(moved).toBe(left + N);
    expect(Date.now() - t0).toBeGreaterThan(200);
    expect(await redis.exists(keys.legacyTaskIndex)).toBe(0);
    expect(await redis.exists(keys.migrationLock)).toBe(0);
    expect(await countIndexedTasks(redis, keys)).toBe(N);
    expect(await redis.exists(keys.legacyTaskList('cpu_short'))).toBe(0);
    // Each value got its list entry, at the old score's ms, in the old order.
    const entries = await redis.xrange(keys.taskList('cpu_short'), '-', '+');
    expect(entries.map(([, f]) => f[1])).toEqual(Array.from({ length: N }, (_, i) => `old-${i}`));
    for (const i of [0, 1, 399, 400, 1_234, N - 1]) {
      const [entry] = entries[i]!;
      expect(entry.split('-')[0]).toBe(String(1_000 + Math.floor(i / 2)));
      expect(await redis.hget(keys.taskIndex(`old-${i}`), `old-${i}`)).toBe(`${legacyValue(i)}\t${entry}`);
    }
    expect(await redis.hget(keys.taskIndex('old-7'), 'old-7')).toBe('cpu_short\tkeptInBucket');

    // Idempotent: nothing left, nothing moved, nothing changed.
    expect(await migrateLegacyTaskIndex({ redis, keys, logger, classes: CLASSES, ownerId: 'third' })).toBe(0);
    expect(await redis.xlen(keys.taskList('cpu_short'))).toBe(N);
    expect(await countIndexedTasks(redis, keys)).toBe(N);
  });

  it('resumes after a migrating process is killed with SIGKILL mid-way: every task once, in order, with its entry', async () => {
    const n = 20_000;
    const pipe = redis.pipeline();
    for (let i = 0; i < n; i++)
      pipe.hset(keys.legacyTaskIndex, `k-${i}`, legacyValue(i)).zadd(keys.legacyTaskList('cpu_short'), 5_000 + Math.floor(i / 3), `k-${i}`);
    await pipe.exec();
    // The built migration in a process of its own, in small batches so that it is still running when killed.
    const dist = (f: string) => JSON.stringify(pathToFileURL(join(PROJECT_ROOT, 'dist/src', f)).href);
    const code = `
      import { Redis } from 'ioredis';
      const { keys } = await import(${dist('store/keys.js')});
      const { createLogger } = await import(${dist('logging/logger.js')});
      const { migrateLegacyTaskIndex } = await import(${dist('tasks/task-index-migration.js')});
      const redis = new Redis(${JSON.stringify(server.url)});
      await migrateLegacyTaskIndex({ redis, keys: keys('orq'), logger: createLogger('warn'), classes: ['cpu_short'], ownerId: 'killed', batch: 20, lockTtlMs: 1_500 });
      process.exit(0);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`the migration ended before it was killed (${child.exitCode}): ${stderr}`);
        return (await redis.zcard(keys.legacyTaskList('cpu_short'))) < n - 1_000;
      },
      { timeoutMs: 30_000, intervalMs: 5, message: 'the migration never started' },
    );
    child.kill('SIGKILL');
    await exited;
    const listLeft = await redis.zcard(keys.legacyTaskList('cpu_short'));
    expect(listLeft).toBeGreaterThan(0);
    expect(await redis.get(keys.migrationLock)).toBe('killed');

    await migrateLegacyTaskIndex({ redis, keys, logger, classes: CLASSES, ownerId: 'after', pollMs: 50 });
    expect(await redis.exists(keys.legacyTaskIndex, keys.legacyTaskList('cpu_short'), keys.migrationLock)).toBe(0);
    const entries = await redis.xrange(keys.taskList('cpu_short'), '-', '+');
    // The zset's order: by score, then by id bytewise.
    const ms = (i: number) => 5_000 + Math.floor(i / 3);
    const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => ms(x) - ms(y) || (`k-${x}` < `k-${y}` ? -1 : 1));
    expect(entries.map(([, f]) => f[1])).toEqual(order.map((i) => `k-${i}`));
    expect(await countIndexedTasks(redis, keys)).toBe(n);
    for (const at of [0, 1, n - listLeft - 1, n - listLeft, n - 1]) {
      const [entry] = entries[at]!;
      const i = order[at]!;
      expect(entry.split('-')[0]).toBe(String(ms(i)));
      expect(await redis.hget(keys.taskIndex(`k-${i}`), `k-${i}`)).toBe(`${legacyValue(i)}\t${entry}`);
    }
  }, 90_000);

  it('does nothing on a store that never had the previous index', async () => {
    expect(await migrateLegacyTaskIndex({ redis, keys, logger, classes: CLASSES, ownerId: 'fresh' })).toBe(0);
    expect(await redis.dbsize()).toBe(0);
  });
});

describe('an upgrade from the one-hash index', () => {
  it('serves the tasks the previous version indexed: status, same-content resubmission, conflicts', async () => {
    const sys = await startBareSystem();
    try {
      // Tasks queued (cpu_long has no pool here; one cancelled while queued: its job is gone),
      // then their index and list rewritten the way the previous version kept them: one hash
      // with the whole digest, a zset scored by submit ms.
      const first = await sys.startOrchestrator();
      const inputs = Array.from({ length: 50 }, (_, i) => ({ taskId: `up-${i}`, taskClass: 'cpu_long', payload: { i: String(i) } }));
      await first.client.submitTasks(inputs.slice(0, 25));
      await first.client.submitTasks(inputs.slice(25));
      await first.client.cancelTask('up-9', 'not needed');
      const before = await first.client.listTasks({ taskClasses: ['cpu_long'] }, { pageSize: 100 });
      const cancelledBefore = await first.client.getTaskStatus('up-9');
      first.kill('SIGKILL');
      await first.exited;
      const list = sys.keys.taskList('cpu_long');
      for (const t of inputs) {
        const [taskClass, digest, entry] = (await sys.r.hget(sys.keys.taskIndex(t.taskId), t.taskId))!.split('\t');
        await sys.r.hset(sys.keys.legacyTaskIndex, t.taskId, `${taskClass}\t${digest}ABCDEFGHIJKLMNO`);
        await sys.r.hdel(sys.keys.taskIndex(t.taskId), t.taskId);
        await sys.r.zadd(sys.keys.legacyTaskList('cpu_long'), entry!.split('-')[0]!, t.taskId);
      }
      await sys.r.del(list);
      expect(await countIndexedTasks(sys.r, sys.keys)).toBe(0);

      const next = await sys.startOrchestrator();
      expect(await sys.r.exists(sys.keys.legacyTaskIndex)).toBe(0);
      expect(await countIndexedTasks(sys.r, sys.keys)).toBe(inputs.length);
      expect(await sys.r.exists(sys.keys.legacyTaskList('cpu_long'))).toBe(0);
      expect(await sys.r.hget(sys.keys.taskIndex('up-3'), 'up-3')).toMatch(/^cpu_long\t[A-Za-z0-9_-]{12}ABCDEFGHIJKLMNO\t\d+-\d+$/);
      // Listed as before, newest first, with the same submit times; statuses report them too.
      const after = await next.client.listTasks({ taskClasses: ['cpu_long'] }, { pageSize: 100 });
      const brief = (p: typeof after) => p.tasks.map((t) => [t.taskId, t.submittedAtMs, t.state]);
      expect(brief(after)).toEqual(brief(before));
      const st = await next.client.getTaskStatus('up-3');
      expect(st).toMatchObject({ taskId: 'up-3', taskClass: 'cpu_long', state: TaskState.TASK_STATE_QUEUED });
      expect(st.submittedAtMs).toBe(before.tasks.find((t) => t.taskId === 'up-3')!.submittedAtMs);
      expect(await next.client.getTaskStatus('up-9')).toMatchObject({
        state: TaskState.TASK_STATE_CANCELLED,
        submittedAtMs: cancelledBefore.submittedAtMs,
      });
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
