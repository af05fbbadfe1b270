/**
 * Flow control at run time against real pools: a pool's concurrency changed while it runs, a
 * cluster-wide cap honoured by three pools, a rate limit, pause and resume, and bad limits
 * refused. How many tasks ran at once is read from the events stream (started .. final).
 *
 * Each test has a system of its own (test/helpers/system-test.ts) and they run concurrently:
 * most of a test is a system starting and pools waiting for tasks, which then overlap. A test
 * reads only its own system's events, so another's tasks cannot count in its overlaps.
 */
import { status } from '@grpc/grpc-js';
import { describe, expect } from 'vitest';
import { TaskState } from '../src/client/orchestrator-client.js';
import { fieldOf, grpcError } from './helpers/grpc.js';
import type { TestSystem } from './helpers/system.js';
import { systemTest as it } from './helpers/system-test.js';
import { waitFor } from './helpers/wait.js';

const sleeps = (prefix: string, n: number, ms: number) =>
  Array.from({ length: n }, (_, i) => ({
    taskId: `${prefix}-${i}`,
    taskClass: 'inproc',
    payload: { ms: String(ms) },
    executor: { handler: 'sleep' as const },
  }));

async function allDone(sys: TestSystem, ids: string[]): Promise<void> {
  for await (const r of sys.client.streamTaskResults({ taskIds: ids, closeWhenDone: true })) void r;
}

/** The most tasks with `prefix` running at one moment, and each task's start time. */
async function runningAtOnce(sys: TestSystem, prefix: string): Promise<{ max: number; starts: number[] }> {
  const marks: [number, number][] = [];
  const starts: number[] = [];
  for (const [, f] of await sys.r.xrange(sys.keys.events, '-', '+')) {
    if (!f[3]?.startsWith(`${prefix}-`)) continue;
    const at = Number(f[f.indexOf('at') + 1]);
    if (f[1] === 'started') {
      marks.push([at, 1]);
      starts.push(at);
    } else if (f[1] === 'succeeded' || f[1] === 'failed' || f[1] === 'cancelled') marks.push([at, -1]);
  }
  // Ends before starts at the same millisecond: a slot freed and refilled is not an overlap.
  marks.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let max = 0;
  for (const [, d] of marks) max = Math.max(max, (now += d));
  return { max, starts: starts.sort((a, b) => a - b) };
}

describe('class limits', { concurrent: true }, () => {
  it("changes a running pool's concurrency without a restart", { timeout: 60_000 }, async ({ sys }) => {
    await sys.startPool({ classes: 'inproc:1' });
    const first = sleeps('one', 3, 150);
    await sys.client.submitTasks(first);
    await allDone(
      sys,
      first.map((t) => t.taskId),
    );
    expect((await runningAtOnce(sys, 'one')).max).toBe(1);

    const limits = await sys.client.setClassLimits('inproc', { poolConcurrency: 4 });
    expect(limits).toMatchObject({ taskClass: 'inproc', poolConcurrency: 4 });
    // The pool reports what it runs now in its heartbeat.
    await waitFor(async () => JSON.parse((await sys.r.hget(sys.keys.pool((await sys.r.zrange(sys.keys.pools, 0, 0))[0]!), 'classes')) ?? '{}').inproc === 4);
    const second = sleeps('four', 8, 400);
    await sys.client.submitTasks(second);
    await allDone(
      sys,
      second.map((t) => t.taskId),
    );
    expect((await runningAtOnce(sys, 'four')).max).toBe(4);
  });

  it('holds a cluster-wide cap of 2 across three pools', { timeout: 60_000 }, async ({ sys }) => {
    await Promise.all([1, 2, 3].map(() => sys.startPool({ classes: 'inproc:4' })));
    expect(await sys.client.setClassLimits('inproc', { globalConcurrency: 2 })).toMatchObject({ globalConcurrency: 2 });
    const tasks = sleeps('cap', 12, 200);
    await sys.client.submitTasks(tasks);
    await allDone(
      sys,
      tasks.map((t) => t.taskId),
    );
    expect((await runningAtOnce(sys, 'cap')).max).toBe(2);
    expect(await sys.client.setClassLimits('inproc', { globalConcurrency: 0 })).toMatchObject({ globalConcurrency: 0 });
  });

  it('holds a rate limit over a window', { timeout: 60_000 }, async ({ sys }) => {
    await sys.startPool({ classes: 'inproc:8' });
    await sys.client.setClassLimits('inproc', { rateLimitMax: 2, rateLimitDurationMs: 1_000 });
    const tasks = sleeps('rate', 8, 0);
    await sys.client.submitTasks(tasks);
    await allDone(
      sys,
      tasks.map((t) => t.taskId),
    );
    const { starts } = await runningAtOnce(sys, 'rate');
    expect(starts).toHaveLength(8);
    // At 2 per window, any 5 starts in a row reach into a third window: they span more than
    // one whole window (less a little for the pool writing its start events).
    for (let i = 0; i + 4 < starts.length; i++) expect(starts[i + 4]! - starts[i]!).toBeGreaterThanOrEqual(900);
  });

  it('pauses a class (queued tasks wait, the pool stays up) and resumes it', { timeout: 60_000 }, async ({ sys }) => {
    const pool = await sys.startPool({ classes: 'inproc:2' });
    expect((await sys.client.pauseClass('inproc')).paused).toBe(true);
    const { taskId } = await sys.client.submitTask({ taskClass: 'inproc', payload: { a: '1' } });
    // Two heartbeats of a live pool later, the task has still not started.
    const beat = async () => Number(await sys.r.hget(sys.keys.pool(pool.id), 'at'));
    const b0 = await beat();
    await waitFor(async () => (await beat()) > b0);
    const b1 = await beat();
    await waitFor(async () => (await beat()) > b1);
    expect((await sys.client.getTaskStatus(taskId)).state).toBe(TaskState.TASK_STATE_QUEUED);
    expect((await sys.client.resumeClass('inproc')).paused).toBe(false);
    await sys.client.waitForResult(taskId, { timeoutMs: 20_000 });
  });

  it('refuses bad limits with INVALID_ARGUMENT naming the field', { timeout: 60_000 }, async ({ sys }) => {
    const neg = await grpcError(sys.client.setClassLimits('inproc', { globalConcurrency: -1 }));
    expect([neg.code, fieldOf(neg)]).toEqual([status.INVALID_ARGUMENT, 'global_concurrency']);
    const noWindow = await grpcError(sys.client.setClassLimits('inproc', { rateLimitMax: 5 }));
    expect([noWindow.code, fieldOf(noWindow)]).toEqual([status.INVALID_ARGUMENT, 'rate_limit_duration_ms']);
    const unknown = await grpcError(sys.client.getClassLimits('nope'));
    expect([unknown.code, fieldOf(unknown)]).toEqual([status.INVALID_ARGUMENT, 'task_class']);
  });
});
