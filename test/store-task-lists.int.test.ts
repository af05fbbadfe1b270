/**
 * The store's ListTasks and retention scripts against a real Redis (src/store/lists/,
 * src/store/tasks/, src/store/locks/): paging newest first after a cursor, the job summaries
 * ListTasks reads (including what they read from the tail of the job's data, whose key order the
 * submitter must keep), the removal of finished jobs, forgetting tasks, and the retention lock.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resolveTaskClasses } from '../queues/task-classes.js';
import { HoldLockCode, ReleaseLockCode } from '../src/store/codes.js';
import { keys as makeKeys } from '../src/store/keys.js';
import { pageNewestFirst, type ScoredEntry } from '../src/store/lists/page-newest-first.js';
import { streamNewestFirst } from '../src/store/lists/stream-newest-first.js';
import { listEntries } from '../src/store/lists/list-entries.js';
import { holdLock } from '../src/store/locks/hold-lock.js';
import { releaseLock } from '../src/store/locks/release-lock.js';
import { scriptSource } from '../src/store/store-script.js';
import { forgetTasks } from '../src/store/tasks/forget-tasks.js';
import { readTaskSummaries, SUMMARY_FIELDS } from '../src/store/tasks/read-task-summaries.js';
import { removeFinishedTasks } from '../src/store/tasks/remove-finished-tasks.js';
import { joblessTasks } from '../src/store/tasks/jobless-tasks.js';
import { sampleFinishedJobs } from '../src/store/tasks/sample-finished-jobs.js';
import { resolveTask } from '../src/tasks/task-spec.js';
import { startRedis, type RedisServerHandle } from './helpers/redis-server.js';
import { countIndexedTasks } from '../src/store/tasks/read-task-index.js';

const keys = makeKeys('orq');
const CLS = 'cpu_short';
const sets = { completed: `${keys.queuePrefix}:${CLS}:completed`, failed: `${keys.queuePrefix}:${CLS}:failed`, delayed: `${keys.queuePrefix}:${CLS}:delayed` };

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

describe('lists/page-newest-first', () => {
  const list = keys.runIndex;
  const page = () => pageNewestFirst(redis);

  it('pages (score, id) descending, nothing missed or repeated, through runs of one score longer than a chunk', async () => {
    // 300 ids at one millisecond (a batch), more than count + 64, and some around them.
    const entries: ScoredEntry[] = [];
    for (let i = 0; i < 300; i++) entries.push({ id: `b${String(i).padStart(3, '0')}`, score: 2_000 });
    for (let i = 0; i < 50; i++) entries.push({ id: `a${i}`, score: 1_000 + i }, { id: `c${i}`, score: 3_000 + i });
    await redis.zadd(list, ...entries.flatMap((e) => [e.score, e.id]));
    const expected = [...entries].sort((x, y) => y.score - x.score || (x.id < y.id ? 1 : -1));

    const run = page();
    const seen: ScoredEntry[] = [];
    let cursor: { score: number; id: string } | undefined;
    for (;;) {
      const got = await run(list, { maxScore: cursor ? cursor.score : Infinity, minScore: -Infinity, cursor, count: 40 });
      expect(got.length).toBeLessThanOrEqual(40);
      seen.push(...got);
      if (got.length < 40) break;
      const last = got[got.length - 1]!;
      cursor = { score: last.score, id: last.id };
    }
    expect(seen).toEqual(expected);
  });

  it('keeps within the score bounds', async () => {
    await redis.zadd(list, 10, 'x', 20, 'y', 30, 'z');
    expect(await page()(list, { maxScore: 29, minScore: 20, count: 10 })).toEqual([{ id: 'y', score: 20 }]);
    expect(await page()(list, { maxScore: Infinity, minScore: -Infinity, count: 2 })).toEqual([
      { id: 'z', score: 30 },
      { id: 'y', score: 20 },
    ]);
    expect(await page()(`${list}:none`, { maxScore: Infinity, minScore: -Infinity, count: 2 })).toEqual([]);
  });
});

describe('tasks/read-task-summaries', () => {
  const classes = resolveTaskClasses({ [CLS]: {} });
  const read = () => readTaskSummaries(redis, keys);

  it('writes SUMMARY_FIELDS values per task, the width the TypeScript side reads', () => {
    expect(scriptSource('tasks/read-task-summaries')).toContain(`for _ = 1, ${SUMMARY_FIELDS} do`);
    expect(scriptSource('tasks/read-task-summaries')).toContain(`for j = 1, ${SUMMARY_FIELDS} do`);
  });

  it('reads the workflow id and attemptsBefore from the job data the submitter and a retry write', async () => {
    // The submitter's data, with every optional key it can write (trace and schedule between
    // timeoutMs and workflowId), and a payload that tries to look like the keys read.
    const resolved = resolveTask(
      {
        taskClass: CLS,
        taskId: 'wf-task',
        payload: { note: '"workflowId":"fake"}', n: '"attemptsBefore":9,' },
        workflowId: 'run-1.step_a',
        scheduleId: 'nightly',
        trace: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'k=v' },
      },
      { classes, maxPayloadBytes: 10_000, field: 'task', workflowStep: true },
    );
    const submitted = JSON.stringify(resolved.data);
    // What a RetryTasks writes (src/tasks/task-retry.ts): attemptsBefore, then workflowId last.
    const { workflowId, ...rest } = resolved.data;
    const retried = JSON.stringify({ ...rest, attemptsBefore: 4, submittedAttempts: 2, workflowId });
    const plain = JSON.stringify(resolveTask({ taskClass: CLS, taskId: 'plain', payload: { a: 'b' } }, { classes, maxPayloadBytes: 100, field: 'task' }).data);

    const job = (id: string, fields: Record<string, string | number>) => redis.hset(keys.job(CLS, id), { timestamp: 1, opts: '{"attempts":3}', ...fields });
    await job('wf-task', { data: submitted, atm: 1, priority: 2_097_151, pb: 'pool-1:0', processedOn: 50 });
    await job('retried', { data: retried, atm: 2, failedReason: 'boom', finishedOn: 60 });
    await job('plain', { data: plain });
    await job('later', { data: plain });
    await job('finished', { data: plain, opts: '{}' });
    await redis.zadd(sets.failed, 60, 'retried');
    await redis.zadd(sets.delayed, 70, 'later');
    await redis.zadd(sets.completed, 80, 'finished');
    await redis.set(`${keys.job(CLS, 'wf-task')}:lock`, 'token');

    const got = await read()(CLS, 0, sets, ['wf-task', 'retried', 'plain', 'gone', 'later', 'finished']);
    expect(got[0]).toEqual({
      place: 'active',
      processedOnMs: 50,
      finishedOnMs: 0,
      attemptsMade: 1,
      failedReason: '',
      attemptsAllowed: 3,
      bullPriority: 2_097_151,
      processedBy: 'pool-1:0',
      workflowId: 'run-1.step_a',
      attemptsBefore: 0,
    });
    expect(got[1]).toMatchObject({ place: 'failed', attemptsMade: 2, failedReason: 'boom', finishedOnMs: 60, workflowId: 'run-1.step_a', attemptsBefore: 4 });
    expect(got[2]).toMatchObject({ place: 'waiting', workflowId: '', attemptsBefore: 0, attemptsAllowed: 3 });
    expect(got[3]).toBeUndefined();
    expect(got[4]).toMatchObject({ place: 'delayed' });
    expect(got[5]).toMatchObject({ place: 'completed', attemptsAllowed: undefined });
  });
});

describe('lists/stream-newest-first and list-entries (the task lists)', () => {
  const list = keys.taskList(CLS);

  it('pages (ms, id) descending, nothing missed or repeated, through a batch of one ms longer than a chunk', async () => {
    // 300 ids at one millisecond (a batch), added in an order unlike their ids', more than
    // count + 64, and some around them.
    const entries: ScoredEntry[] = [];
    for (let i = 0; i < 50; i++) entries.push({ id: `a${i}`, score: 1_000 + i });
    for (let i = 0; i < 300; i++) entries.push({ id: `b${String((i * 7) % 300).padStart(3, '0')}`, score: 2_000 });
    for (let i = 0; i < 50; i++) entries.push({ id: `c${i}`, score: 3_000 + i });
    for (const e of entries) await redis.xadd(list, `${e.score}-*`, 't', e.id);
    await redis.xadd(list, '4000-0', 'other', 'shape');
    const expected = [...entries].sort((x, y) => y.score - x.score || (x.id < y.id ? 1 : -1));

    const seen: ScoredEntry[] = [];
    let cursor: { score: number; id: string } | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const got = await streamNewestFirst(redis, list, { maxMs: Infinity, minMs: -Infinity, cursor, count: 40 });
      if (got.length === 0) break;
      // As ListTasks does: order the page, then go on after its last.
      got.sort((x, y) => y.score - x.score || (x.id < y.id ? 1 : -1));
      seen.push(...got);
      const last = got[got.length - 1]!;
      cursor = { score: last.score, id: last.id };
    }
    expect(seen).toEqual(expected);
  });

  it('keeps within the ms bounds; reads oldest first from a cursor', async () => {
    await redis.xadd(list, '10-0', 't', 'x');
    await redis.xadd(list, '20-0', 't', 'y');
    await redis.xadd(list, '30-0', 't', 'z');
    expect(await streamNewestFirst(redis, list, { maxMs: 29, minMs: 20, count: 10 })).toEqual([{ id: 'y', score: 20 }]);
    expect(await streamNewestFirst(redis, list, { maxMs: Infinity, minMs: -Infinity, count: 2 })).toEqual([
      { id: 'z', score: 30 },
      { id: 'y', score: 20 },
    ]);
    expect(await streamNewestFirst(redis, `${list}:none`, { maxMs: Infinity, minMs: -Infinity, count: 2 })).toEqual([]);
    expect(await listEntries(redis, list, '-', 20, 10)).toEqual([
      { id: 'x', entry: '10-0' },
      { id: 'y', entry: '20-0' },
    ]);
    expect(await listEntries(redis, list, '(10-0', 30, 1)).toEqual([{ id: 'y', entry: '20-0' }]);
  });
});

describe('tasks/remove-finished-tasks and tasks/forget-tasks', () => {
  it('removes only jobs still in the finished set, with their keys, then forgets the tasks', async () => {
    for (const id of ['t1', 't2', 't3']) {
      await redis.hset(keys.job(CLS, id), 'data', '{}');
      await redis.rpush(`${keys.job(CLS, id)}:logs`, 'line');
      const entry = await redis.xadd(keys.taskList(CLS), '*', 't', id);
      await redis.hset(keys.taskIndex(id), id, `${CLS}\tdigest\t${entry}`);
    }
    await redis.hset(keys.cancel, 't1', 'by operator');
    await redis.zadd(sets.failed, 5, 't1', 6, 't2');
    // t3 was retried meanwhile: back in its queue, no longer in the failed set.

    const removed = await removeFinishedTasks(redis, keys)(CLS, 0, sets.failed, ['t1', 't2', 't3']);
    expect(removed).toEqual(['t1', 't2']);
    expect(await redis.exists(keys.job(CLS, 't1'), `${keys.job(CLS, 't1')}:logs`, keys.job(CLS, 't2'), `${keys.job(CLS, 't2')}:logs`)).toBe(0);
    expect(await redis.exists(keys.job(CLS, 't3'), `${keys.job(CLS, 't3')}:logs`)).toBe(2);
    expect(await redis.zcard(sets.failed)).toBe(0);

    expect(await forgetTasks(redis, keys)(CLS, removed)).toBe(2);
    expect(await countIndexedTasks(redis, keys)).toBe(1);
    expect(await redis.hexists(keys.taskIndex('t3'), 't3')).toBe(1);
    // Their list entries went too (named by their index values).
    expect((await redis.xrange(keys.taskList(CLS), '-', '+')).map(([, f]) => f[1])).toEqual(['t3']);
    expect(await redis.hlen(keys.cancel)).toBe(0);
    expect(await forgetTasks(redis, keys)(CLS, ['t1'])).toBe(0);
  });
});

describe('tasks/sample-finished-jobs and tasks/jobless-tasks', () => {
  it('counts each finished set and sizes sampled jobs with their log lists; finds tasks whose job is gone', async () => {
    const big = 'x'.repeat(4_000);
    await redis.hset(keys.job(CLS, 'j1'), 'data', '{}');
    await redis.rpush(`${keys.job(CLS, 'j1')}:logs`, big);
    await redis.zadd(sets.completed, 1, 'j1');
    const other = `${keys.queuePrefix}:other:failed`;
    await redis.zadd(other, 1, 'k1', 2, 'k2');
    await redis.hset(keys.job('other', 'k1'), 'data', '{}');

    const [completed, failed, empty] = await sampleFinishedJobs(redis, keys)(
      [
        { taskClass: CLS, set: sets.completed },
        { taskClass: 'other', set: other },
        { taskClass: CLS, set: sets.failed },
      ],
      8,
    );
    expect(completed!.count).toBe(1);
    expect(completed!.jobBytes).toHaveLength(1);
    expect(completed!.jobBytes[0]).toBeGreaterThan(4_000);
    expect(failed!.count).toBe(2);
    // k2's job is gone: 0, left out of the mean by the caller.
    expect([...failed!.jobBytes].sort((a, b) => a - b)[0]).toBe(0);
    expect(failed!.jobBytes.filter((b) => b > 0)).toHaveLength(1);
    expect(empty).toEqual({ count: 0, jobBytes: [] });

    expect(await joblessTasks(redis, keys)('other', ['k1', 'k2', 'k3'])).toEqual(['k2', 'k3']);
  });
});

describe('locks/hold-lock and locks/release-lock', () => {
  it('one owner at a time; the holder extends and releases it; another cannot release it', async () => {
    const hold = holdLock(redis, keys.retentionLock);
    const release = releaseLock(redis, keys.retentionLock);
    expect(await hold('a', 10_000)).toBe(true);
    expect(await hold('b', 10_000)).toBe(false);
    expect(await hold('a', 60_000)).toBe(true);
    expect(await redis.pttl(keys.retentionLock)).toBeGreaterThan(10_000);
    expect(await release('b')).toBe(ReleaseLockCode.NotHeld);
    expect(await redis.get(keys.retentionLock)).toBe('a');
    expect(await release('a')).toBe(ReleaseLockCode.Released);
    expect(await hold('b', 10_000)).toBe(true);
    expect(HoldLockCode.Held).toBe(1);
  });
});
