/**
 * Running tasks: every executor end to end over gRPC, retries with backoff, timeouts, cancel,
 * and a crashing handler that must not take its pool down.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState } from '../src/client/orchestrator-client.js';
import { resultFields } from './helpers/results.js';
import { startSystem, type PoolProcess, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

let sys: TestSystem;
let pool: PoolProcess;
const handlersDir = mkdtempSync(join(tmpdir(), 'orq-handlers-'));

beforeAll(async () => {
  writeFileSync(
    join(handlersDir, 'word-count.mjs'),
    `export default async function (payload, ctx) {
       await ctx.progress({ stage: 'counting' });
       return { words: payload.text.split(/\\s+/).filter(Boolean).length, attempt: ctx.attempt };
     }\n`,
  );
  sys = await startSystem();
  pool = await sys.startPool({ classes: 'cpu_short:4,cpu_long:2,inproc:4', env: { ORCHESTRATOR_HANDLERS_DIR: handlersDir } });
});
afterAll(async () => sys?.stop());

const state = (s: TaskState) => TaskState[s];

describe('executors', () => {
  it('runs a built-in handler in a sandbox', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { hello: 'world' } });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_SUCCEEDED');
    expect(JSON.parse(r.resultJson)).toEqual({ hello: 'world' });
    expect(r.workerId).toBe(pool.id);
    expect(r.attempt).toBe(1);
  });

  it('runs a user handler from the handler directory, with progress', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { text: 'one two  three' }, executor: { handler: 'word-count' } });
    const r = await sys.client.waitForResult(taskId);
    expect(JSON.parse(r.resultJson)).toEqual({ words: 3, attempt: 1 });
    const st = await sys.client.getTaskStatus(taskId);
    expect(JSON.parse(st.progressJson)).toEqual({ stage: 'counting' });
    const progress = (await sys.r.xrange(sys.keys.events, '-', '+')).filter(([, f]) => f.includes(taskId) && f[1] === 'progress');
    expect(progress).toHaveLength(1);
  });

  it('runs handlers in-process for a class that opts in', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'inproc', payload: { a: 'b' } });
    expect(JSON.parse((await sys.client.waitForResult(taskId)).resultJson)).toEqual({ a: 'b' });
  });

  it('runs a command with env and captures its output and exit code', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { x: '1' },
      executor: { command: { argv: ['sh', '-c', 'echo "$GREETING $ORCHESTRATOR_TASK_ID"; echo oops >&2'], env: { GREETING: 'hi' } } },
    });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_SUCCEEDED');
    const out = JSON.parse(r.resultJson);
    expect(out).toMatchObject({ exitCode: 0, stdout: `hi ${taskId}\n`, stderr: 'oops\n' });
  });

  it('fails a command that exits non-zero, with its exit code and output tail', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { x: '1' },
      maxAttempts: 1,
      executor: { command: { argv: ['sh', '-c', 'echo broken >&2; exit 3'] } },
    });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_FAILED');
    expect(r.error).toContain('code 3');
    const st = await sys.client.getTaskStatus(taskId);
    expect(st.error).toContain('code 3');
    const fields = (await resultFields(sys.r, sys.keys, taskId))!;
    expect(fields.error_code).toBe('task_failed');
    expect(JSON.parse(fields.result!)).toMatchObject({ exitCode: 3, stderr: 'broken\n' });
  });
});

describe('retries', () => {
  it('retries with backoff and succeeds on a later attempt', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { succeed_on_attempt: '3' },
      executor: { handler: 'fail' },
      maxAttempts: 3,
      backoff: { type: 'fixed', delayMs: 150 },
    });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_SUCCEEDED');
    expect(r.attempt).toBe(3);
    const events = (await sys.r.xrange(sys.keys.events, '-', '+')).filter(([, f]) => f.includes(taskId)).map(([, f]) => `${f[1]}:${f[7]}`);
    expect(events).toEqual(['submitted:0', 'started:1', 'retrying:1', 'started:2', 'retrying:2', 'started:3', 'succeeded:3']);
    const starts = (await sys.r.xrange(sys.keys.events, '-', '+'))
      .filter(([, f]) => f.includes(taskId) && f[1] === 'started')
      .map(([id]) => Number(id.split('-')[0]));
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(140);
  });

  it('fails for good after its attempts, with one final result', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { message: 'always broken' },
      executor: { handler: 'fail' },
      maxAttempts: 2,
      backoff: { type: 'exponential', delayMs: 50 },
    });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_FAILED');
    expect(r.error).toBe('always broken');
    expect(r.attempt).toBe(2);
    const st = await sys.client.getTaskStatus(taskId);
    expect(st).toMatchObject({ attemptsMade: 2, maxAttempts: 2, state: TaskState.TASK_STATE_FAILED });
    expect((await sys.r.xrange(sys.keys.results, '-', '+')).filter(([, f]) => f[1] === taskId)).toHaveLength(1);
  });

  it('does not retry an error marked non-retryable', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { retryable: 'false' }, executor: { handler: 'fail' }, maxAttempts: 5 });
    const r = await sys.client.waitForResult(taskId);
    expect(r.attempt).toBe(1);
    expect(state(r.state)).toBe('TASK_STATE_FAILED');
  });

  it('fails a task naming an unknown handler without retrying', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { a: '1' }, executor: { handler: 'no-such-handler' }, maxAttempts: 3 });
    const r = await sys.client.waitForResult(taskId);
    expect(r.error).toContain('unknown handler');
    expect(r.attempt).toBe(1);
  });
});

describe('timeouts', () => {
  it('kills a handler over its timeout and fails it as timed out', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { ms: '30000' },
      executor: { handler: 'spin' },
      timeoutMs: 300,
      maxAttempts: 1,
    });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_FAILED');
    expect(r.error).toContain('timed out after 300 ms');
    const entry = (await sys.r.xrange(sys.keys.results, '-', '+')).find(([, f]) => f[1] === taskId)!;
    expect(entry[1]).toContain('timed_out');
  });

  it('kills a command over its timeout', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      executor: { command: { argv: ['sleep', '30'] } },
      timeoutMs: 300,
      maxAttempts: 1,
    });
    const r = await sys.client.waitForResult(taskId);
    expect(r.error).toContain('timed out');
  });
});

describe('cancel', () => {
  it('removes a queued task: it ends cancelled and never runs', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { a: '1' }, delayMs: 60_000 });
    expect(state((await sys.client.getTaskStatus(taskId)).state)).toBe('TASK_STATE_SCHEDULED');
    const res = await sys.client.cancelTask(taskId, 'not needed');
    expect(state(res.state)).toBe('TASK_STATE_CANCELLED');
    const st = await sys.client.getTaskStatus(taskId);
    expect(state(st.state)).toBe('TASK_STATE_CANCELLED');
    expect(st.error).toContain('not needed');
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_CANCELLED');
    // Out of its queue together with its one outcome (one script), its record kept as a
    // finished (failed) job, as a running task's cancel leaves it.
    expect(await sys.r.zscore(sys.keys.job('cpu_short', 'delayed'), taskId)).toBeNull();
    expect(await sys.r.zscore(sys.keys.job('cpu_short', 'failed'), taskId)).not.toBeNull();
    expect(st.maxAttempts).toBeGreaterThanOrEqual(1);
    const results = (await sys.r.xrange(sys.keys.results, '-', '+')).filter(([, f]) => f[1] === taskId);
    expect(results).toHaveLength(1);
    const events = (await sys.r.xrange(sys.keys.events, '-', '+')).map(([, f]) => f).filter((f) => f[3] === taskId);
    expect(events.map((f) => f[1])).toEqual(['submitted', 'cancelled']);
    // A second cancel changes nothing.
    expect(state((await sys.client.cancelTask(taskId)).state)).toBe('TASK_STATE_CANCELLED');
    expect((await sys.r.xrange(sys.keys.results, '-', '+')).filter(([, f]) => f[1] === taskId)).toHaveLength(1);
  });

  it.each([
    ['a sandboxed handler', { handler: 'sleep' }],
    ['a handler that ignores its signal', { handler: 'spin' }],
    ['a command', { command: { argv: ['sleep', '30'] } }],
  ])('stops a running task: %s', async (_name, executor) => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { ms: '30000' }, executor, maxAttempts: 3 });
    await waitFor(async () => (await sys.client.getTaskStatus(taskId)).state === TaskState.TASK_STATE_RUNNING);
    const res = await sys.client.cancelTask(taskId, 'stop it');
    expect([TaskState.TASK_STATE_RUNNING, TaskState.TASK_STATE_CANCELLED]).toContain(res.state);
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_CANCELLED');
    expect(r.error).toContain('stop it');
    const st = await sys.client.getTaskStatus(taskId);
    expect(state(st.state)).toBe('TASK_STATE_CANCELLED');
    expect(st.attemptsMade).toBe(1);
  });

  it('cancels, without running it, a task whose cancel a pool missed while it waited', async () => {
    // The state a lost cancel message leaves: the request recorded, the task still queued (no
    // pool of this file serves gpu_slurm until now). The pool that takes it finds the record in
    // the script that hands it over, and never runs it.
    const marker = join(mkdtempSync(join(tmpdir(), 'orq-cancel-')), 'ran');
    const { taskId } = await sys.client.submitTask({ taskClass: 'gpu_slurm', payload: { a: '1' }, executor: { command: { argv: ['touch', marker] } } });
    await sys.r.hset(sys.keys.cancel, taskId, 'missed');
    const taker = await sys.startPool({ classes: 'gpu_slurm:1' });
    try {
      const r = await sys.client.waitForResult(taskId);
      expect(state(r.state)).toBe('TASK_STATE_CANCELLED');
      expect(r.error).toContain('missed');
      expect(existsSync(marker)).toBe(false);
      const events = (await sys.r.xrange(sys.keys.events, '-', '+')).map(([, f]) => f).filter((f) => f[3] === taskId);
      expect(events.map((f) => f[1])).toEqual(['submitted', 'started', 'cancelled']);
      // The started event names the pool that took it.
      expect(events[1]).toContain(taker.id);
    } finally {
      taker.kill('SIGTERM');
      await taker.exited;
    }
  });

  it('answers NOT_FOUND for an unknown task', async () => {
    await expect(sys.client.cancelTask('nope-never')).rejects.toMatchObject({ code: status.NOT_FOUND });
    await expect(sys.client.getTaskStatus('nope-never')).rejects.toMatchObject({ code: status.NOT_FOUND });
  });
});

describe('isolation', () => {
  it('survives a handler that kills its own process', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { a: '1' }, executor: { handler: 'crash' }, maxAttempts: 1 });
    const r = await sys.client.waitForResult(taskId);
    expect(r.error).toContain('exited unexpectedly');
    expect(pool.child.exitCode).toBeNull();
    const { taskId: next } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { after: 'crash' } });
    expect(state((await sys.client.waitForResult(next)).state)).toBe('TASK_STATE_SUCCEEDED');
  });
});
