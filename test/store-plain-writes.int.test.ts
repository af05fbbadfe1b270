/**
 * The store's plain (non-Lua) writes called directly against a real Redis: the feeds' event,
 * count and final outcome (src/store/feeds/), a cancel request and its clearing
 * (src/store/tasks/), a class's per-pool concurrency (src/store/classes/) and the run index's
 * forgetting of gone runs (src/store/workflows/). What each writes and announces, and that a
 * workflow's outcome reaches the engine's inbox with the rest. The domain suites (feeds.int,
 * task-ops.int, limits.int, workflows.int) cover the same writes end to end.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys as keyLayout } from '../src/store/keys.js';
import { parseEvent, parseResult, type TaskEventRecord, type TaskResultRecord } from '../src/store/codecs/feed-format.js';
import { appendEvent } from '../src/store/feeds/append-event.js';
import { addCount } from '../src/store/feeds/add-count.js';
import { appendOutcome } from '../src/store/feeds/append-outcome.js';
import { requestCancel } from '../src/store/tasks/request-cancel.js';
import { clearCancel } from '../src/store/tasks/clear-cancel.js';
import { setPoolConcurrency } from '../src/store/classes/set-pool-concurrency.js';
import { forgetRuns } from '../src/store/workflows/forget-runs.js';
import { startRedis, type RedisServerHandle } from './helpers/redis-server.js';
import { waitFor } from './helpers/wait.js';

let server: RedisServerHandle;
let redis: Redis;
let subscriber: Redis;
const heard: [channel: string, message: string][] = [];
let n = 0;
/** A fresh key prefix per test: nothing one test writes is seen by another. */
const fresh = () => keyLayout(`plain${++n}`);

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
  subscriber = new Redis(server.url, { maxRetriesPerRequest: null });
  subscriber.on('message', (channel: string, message: string) => heard.push([channel, message]));
});

afterAll(async () => {
  redis?.disconnect();
  subscriber?.disconnect();
  await server?.stop();
});

const event = (over: Partial<TaskEventRecord> = {}): TaskEventRecord => ({
  type: 'succeeded',
  taskId: 't1',
  taskClass: 'cpu',
  attempt: 1,
  atMs: 1_700_000_000_000,
  workerId: 'pool-a',
  ...over,
});
const result = (over: Partial<TaskResultRecord> = {}): TaskResultRecord => ({
  taskId: 't1',
  taskClass: 'cpu',
  attempt: 1,
  atMs: 1_700_000_000_000,
  state: 'succeeded',
  workerId: 'pool-a',
  resultJson: '{"ok":true}',
  durationMs: 12,
  ...over,
});

describe('feeds', () => {
  it('appendEvent adds one entry that reads back as the same event', async () => {
    const keys = fresh();
    await appendEvent(redis, keys, 1_000)(event({ type: 'progress', detail: '{"pct":50}' }));
    const entries = await redis.xrange(keys.events, '-', '+');
    expect(entries).toHaveLength(1);
    expect(parseEvent(entries[0]![1])).toEqual(event({ type: 'progress', detail: '{"pct":50}' }));
  });

  it('addCount adds one to <kind>:<class> each time', async () => {
    const keys = fresh();
    const count = addCount(redis, keys);
    await count('retried', 'cpu', 't1');
    await count('retried', 'cpu', 't2');
    await count('timed_out', 'gpu', 't3');
    expect(await redis.hgetall(keys.counters)).toEqual({ 'retried:cpu': '2', 'timed_out:gpu': '1' });
  });

  it('a plain task’s outcome writes its event, its result and the finished count, not the inbox', async () => {
    const keys = fresh();
    await appendOutcome(redis, keys, { events: 1_000, results: 1_000 })(event(), result());
    const [events, results] = await Promise.all([redis.xrange(keys.events, '-', '+'), redis.xrange(keys.results, '-', '+')]);
    expect(events.map(([, f]) => parseEvent(f))).toEqual([event()]);
    expect(results.map(([, f]) => parseResult(f))).toEqual([result()]);
    expect(await redis.hgetall(keys.counters)).toEqual({ 'succeeded:cpu': '1' });
    expect(await redis.exists(keys.workflowInbox)).toBe(0);
  });

  it('a workflow task’s outcome also puts its result on the workflow inbox', async () => {
    const keys = fresh();
    const wf = { workflowId: 'run-1', taskId: 'run-1.step-a' };
    await appendOutcome(redis, keys, { events: 1_000, results: 1_000 })(
      event({ ...wf, type: 'failed', detail: 'boom' }),
      result({ ...wf, state: 'failed', resultJson: undefined, error: 'boom', errorCode: 'task_failed' }),
    );
    const [events, results, inbox] = await Promise.all([
      redis.xrange(keys.events, '-', '+'),
      redis.xrange(keys.results, '-', '+'),
      redis.xrange(keys.workflowInbox, '-', '+'),
    ]);
    expect(events.map(([, f]) => parseEvent(f).taskId)).toEqual(['run-1.step-a']);
    expect(results).toHaveLength(1);
    expect(inbox.map(([, f]) => f)).toEqual(results.map(([, f]) => f));
    expect(parseResult(inbox[0]![1])).toMatchObject({ workflowId: 'run-1', state: 'failed', error: 'boom' });
    expect(await redis.hgetall(keys.counters)).toEqual({ 'failed:cpu': '1' });
  });

  it('a workflow task’s outcome that Redis refuses in part is an error, not a silent loss', async () => {
    const keys = fresh();
    // The inbox is not a stream: its XADD fails inside the MULTI.
    await redis.set(keys.workflowInbox, 'not a stream');
    const write = appendOutcome(redis, keys, { events: 1_000, results: 1_000 })(event({ workflowId: 'run-2' }), result({ workflowId: 'run-2' }));
    await expect(write).rejects.toThrow(/WRONGTYPE/);
  });
});

describe('tasks: cancel requests', () => {
  it('requestCancel records the reason and announces "<task>\\t<reason>"; clearCancel drops the record', async () => {
    const keys = fresh();
    await subscriber.subscribe(keys.cancelChannel);
    await requestCancel(redis, keys)('cpu_short', 't9', 'operator said so');
    expect(await redis.hget(keys.cancel, 't9')).toBe('operator said so');
    await waitFor(() => heard.some(([c, m]) => c === keys.cancelChannel && m === 't9\toperator said so'), { message: 'cancel announced' });
    await clearCancel(redis, keys)('cpu_short', 't9');
    expect(await redis.hexists(keys.cancel, 't9')).toBe(0);
  });
});

describe('classes: per-pool concurrency', () => {
  it('sets the override and announces the class; 0 removes it and announces again', async () => {
    const keys = fresh();
    await subscriber.subscribe(keys.limitsChannel);
    const set = setPoolConcurrency(redis, keys);
    await set('gpu', 3);
    expect(await redis.hget(keys.limits, 'gpu')).toBe('3');
    await waitFor(() => heard.filter(([c, m]) => c === keys.limitsChannel && m === 'gpu').length === 1, { message: 'first announce' });
    await set('gpu', 0);
    expect(await redis.hexists(keys.limits, 'gpu')).toBe(0);
    await waitFor(() => heard.filter(([c, m]) => c === keys.limitsChannel && m === 'gpu').length === 2, { message: 'second announce' });
  });
});

describe('workflows: the run index', () => {
  it('forgetRuns drops only the runs named, and nothing for none', async () => {
    const keys = fresh();
    await redis.zadd(keys.runIndex, 1, 'r1', 2, 'r2', 3, 'r3');
    const forget = forgetRuns(redis, keys);
    await forget([]);
    await forget(['r1', 'r3', 'never-indexed']);
    expect(await redis.zrange(keys.runIndex, 0, -1)).toEqual(['r2']);
  });
});
