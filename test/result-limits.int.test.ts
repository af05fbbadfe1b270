/**
 * Sizes are bounded: a result over its class's maxResultBytes fails the attempt with
 * result_too_large (not retried, only a short error stored), and no entry on a feed can stop a
 * subscription: malformed and oversized entries written straight into Redis come out as markers
 * with their cursor, and the entries after them still arrive.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState, type TaskEvent, type TaskResult } from '../src/client/orchestrator-client.js';
import { resultFields } from './helpers/results.js';
import { OPEN_POLICY, startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

const MAX_RESULT = 4096;
// A small message limit, so that an entry "too large for one message" is a few MiB, not 64.
const MAX_MESSAGE = 2 << 20;

let sys: TestSystem;
beforeAll(async () => {
  sys = await startSystem({
    toml: `${TEST_CONFIG_TOML}
[grpc]
maxMessageBytes = ${MAX_MESSAGE}
[classes.small]
policy = ${OPEN_POLICY}
attempts = 3
backoff = { type = "fixed", delayMs = 10 }
maxResultBytes = ${MAX_RESULT}
`,
  });
  await sys.startPool({ classes: 'small:4' });
});
afterAll(async () => sys?.stop());

async function finished(taskId: string) {
  const s = await waitFor(
    async () => {
      const s = await sys.client.getTaskStatus(taskId);
      return s.state === TaskState.TASK_STATE_SUCCEEDED || s.state === TaskState.TASK_STATE_FAILED ? s : undefined;
    },
    { timeoutMs: 30_000, message: `task ${taskId} never finished` },
  );
  return s!;
}

/** Reads a stream until `pred` holds for the items so far, then cancels it. */
async function readUntil<T>(stream: AsyncIterable<T> & { cancel(): void }, pred: (items: T[]) => boolean): Promise<T[]> {
  const items: T[] = [];
  const timer = setTimeout(() => stream.cancel(), 20_000);
  try {
    for await (const x of stream) {
      items.push(x);
      if (pred(items)) break;
    }
  } finally {
    clearTimeout(timer);
    stream.cancel();
  }
  return items;
}

describe('result size limit', () => {
  it('stores a result within the limit', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'small', payload: { x: 'a'.repeat(1000) } });
    const s = await finished(taskId);
    expect(s.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
    expect(JSON.parse(s.resultJson)).toEqual({ x: 'a'.repeat(1000) });
  });

  it('fails a handler result over the limit with result_too_large, once, storing only a short error', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'small', payload: { x: 'b'.repeat(10_000) } });
    const s = await finished(taskId);
    expect(s.state).toBe(TaskState.TASK_STATE_FAILED);
    // Not retried though the class allows 3 attempts: the same task gives the same result.
    expect(s.attemptsMade).toBe(1);
    expect(s.error).toMatch(/^result too large: 10008 bytes of JSON, over the limit of 4096 \(classes\.small\.maxResultBytes\)/);
    expect(s.resultJson).toBe('');
    const fields = await resultFields(sys.r, sys.keys, taskId);
    expect(fields).toMatchObject({ state: 'failed', error_code: 'result_too_large' });
    expect(fields!.result).toBeUndefined();
    // What Redis keeps of the job is small: no copy of the result anywhere in it.
    const job = await sys.r.hgetall(sys.keys.job('small', taskId));
    expect(job.returnvalue ?? '').not.toContain('bbbb');
    expect(await sys.r.hget(sys.keys.counters, 'retried:small')).toBeNull();
    const [r] = await readUntil(sys.client.streamTaskResults({ taskIds: [taskId] }), (x) => x.length === 1);
    expect(r!.state).toBe(TaskState.TASK_STATE_FAILED);
    expect(r!.error).toContain('result too large');
  });

  it('applies to a command task: its output tail over the limit fails the same way', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'small',
      payload: { output: 'long' },
      executor: { command: { argv: ['sh', '-c', "head -c 9000 /dev/zero | tr '\\0' x"] } },
    });
    const s = await finished(taskId);
    expect(s.state).toBe(TaskState.TASK_STATE_FAILED);
    expect(s.attemptsMade).toBe(1);
    expect(s.error).toMatch(/^result too large: \d+ bytes of JSON, over the limit of 4096/);
    expect((await resultFields(sys.r, sys.keys, taskId))?.error_code).toBe('result_too_large');
  });
});

/** Appends an entry as any Redis client can, returning its id. */
async function xadd(key: string, fields: Record<string, string>): Promise<string> {
  return (await sys.r.xadd(key, '*', ...Object.entries(fields).flat()))!;
}

describe('entries that cannot be delivered', () => {
  it('delivers malformed and oversized results-stream entries as markers and goes on', async () => {
    const before = (await sys.r.xrevrange(sys.keys.results, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0';
    const bad = await xadd(sys.keys.results, { task_id: 'forged-1', class: 'small', attempt: 'one', at: 'noon', state: 'succeeded', result: '{}' });
    const noId = await xadd(sys.keys.results, { class: 'small', state: 'failed', attempt: '1', at: '1' });
    const big = await xadd(sys.keys.results, {
      task_id: 'forged-2',
      class: 'small',
      attempt: '1',
      at: '1',
      state: 'succeeded',
      result: `"${'z'.repeat(3 << 20)}"`,
    });
    const { taskId } = await sys.client.submitTask({ taskClass: 'small', payload: { after: 'markers' } });

    const got = await readUntil(sys.client.streamTaskResults({ taskClass: 'small', cursor: before }), (x) => x.some((r) => r.taskId === taskId));
    const byCursor = new Map(got.map((r: TaskResult) => [r.cursor, r]));
    expect(byCursor.get(bad)).toMatchObject({ taskId: 'forged-1', taskClass: 'small', state: TaskState.TASK_STATE_UNSPECIFIED, resultJson: '' });
    expect(byCursor.get(bad)!.undeliverable).toMatch(/attempt is not an integer.*at is not an integer/);
    expect(byCursor.get(noId)!.undeliverable).toMatch(/task_id is missing/);
    expect(byCursor.get(big)).toMatchObject({ taskId: 'forged-2', resultJson: '', state: TaskState.TASK_STATE_UNSPECIFIED });
    expect(byCursor.get(big)!.undeliverable).toMatch(/^entry of \d+ bytes is over the \d+-byte limit of one message/);
    const good = got.find((r) => r.taskId === taskId)!;
    expect(good).toMatchObject({ state: TaskState.TASK_STATE_SUCCEEDED, undeliverable: '' });
    expect(JSON.parse(good.resultJson)).toEqual({ after: 'markers' });
    // In stream order: the markers first, at their own cursors.
    expect(got.map((r) => r.cursor).slice(0, 3)).toEqual([bad, noId, big]);
  });

  it('delivers malformed and oversized events-stream entries as markers and goes on', async () => {
    const before = (await sys.r.xrevrange(sys.keys.events, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0';
    const bad = await xadd(sys.keys.events, { type: 'started', task_id: 'forged-3', class: 'small', attempt: '99999999999999999999', at: '1' });
    const big = await xadd(sys.keys.events, { type: 'progress', task_id: 'forged-4', class: 'small', attempt: '1', at: '1', detail: 'p'.repeat(3 << 20) });
    const { taskId } = await sys.client.submitTask({ taskClass: 'small', payload: { after: 'event markers' } });

    const got = await readUntil(sys.client.streamEvents({ taskClasses: ['small'], cursor: before }), (x) =>
      x.some((e) => e.taskId === taskId && e.type === 'succeeded'),
    );
    const byCursor = new Map(got.map((e: TaskEvent) => [e.cursor, e]));
    expect(byCursor.get(bad)).toMatchObject({ type: 'started', taskId: 'forged-3', attempt: 0 });
    expect(byCursor.get(bad)!.undeliverable).toMatch(/attempt is not an integer/);
    expect(byCursor.get(big)).toMatchObject({ type: 'progress', taskId: 'forged-4', detail: '' });
    expect(byCursor.get(big)!.undeliverable).toMatch(/^entry of \d+ bytes is over/);
    expect(got.filter((e) => e.taskId === taskId).map((e) => e.type)).toEqual(expect.arrayContaining(['submitted', 'started', 'succeeded']));
    expect(got.filter((e) => e.taskId === taskId).every((e) => e.undeliverable === '')).toBe(true);
  });

  it('answers GetTaskStatus of a task whose stored result is too large with its status and a marker', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'small', payload: { small: 'yes' } });
    expect((await finished(taskId)).state).toBe(TaskState.TASK_STATE_SUCCEEDED);
    // As a result stored before the limit existed, or written by other means.
    await sys.r.hset(sys.keys.job('small', taskId), 'returnvalue', JSON.stringify({ huge: 'h'.repeat(3 << 20) }));
    const s = await sys.client.getTaskStatus(taskId);
    expect(s).toMatchObject({ taskId, state: TaskState.TASK_STATE_SUCCEEDED, resultJson: '', attemptsMade: 1 });
    expect(s.undeliverable).toMatch(/^stored result of \d+ bytes is over the \d+-byte limit of one message/);
    // A subscription naming the task answers from the same record, with the same marker.
    const [r] = await readUntil(sys.client.streamTaskResults({ taskIds: [taskId], closeWhenDone: true }), (x) => x.length === 1);
    expect(r).toMatchObject({ taskId, resultJson: '', state: TaskState.TASK_STATE_UNSPECIFIED });
    expect(r!.undeliverable).toBe(s.undeliverable);
  });
});
