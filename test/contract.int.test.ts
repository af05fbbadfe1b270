/**
 * What a user reads back agrees with what the README promises: ListTasks windows built from the
 * submit times the API reports, the attempt a `requeued` event carries, an ended schedule's next
 * run, a cancelled task's status, and when Health is DEGRADED. Each was found by using a live
 * system as a client would; each test drives a real system (Redis, the orchestrator, pools).
 */
import { ServingStatus, TaskState, type TaskInput } from '../src/client/orchestrator-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnOrchctl } from './helpers/orchctl.js';
import { startSystem, type PoolProcess, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

let sys: TestSystem;
let pool: PoolProcess;
beforeAll(async () => {
  sys = await startSystem();
  // cpu_short only: the other classes (cpu_long, gpu, gpu_slurm, inproc) have no pool here.
  pool = await sys.startPool({ classes: 'cpu_short:4' });
});
afterAll(async () => sys?.stop());

const component = async (name: string) => (await sys.client.health()).components.find((c) => c.name === name);

/** The events of one task, oldest first, as field maps. */
async function eventsOf(taskId: string): Promise<Record<string, string>[]> {
  const all = await sys.r.xrange(sys.keys.events, '-', '+');
  return all
    .map(([, f]) => Object.fromEntries(f.flatMap((v, i) => (i % 2 ? [] : [[v, f[i + 1]!]]))) as Record<string, string>)
    .filter((e) => e.task_id === taskId);
}

describe('Health', { timeout: 60_000 }, () => {
  // Runs first: the later tests leave work behind in classes without a pool.
  it('is SERVING while classes nobody uses have no pool, DEGRADED while work waits in a class no pool serves', async () => {
    await waitFor(async () => (await component('queue:cpu_short'))?.status === ServingStatus.SERVING_STATUS_SERVING, {
      message: 'the pool never showed as serving cpu_short',
    });
    const idle = await sys.client.health();
    expect(idle.status).toBe(ServingStatus.SERVING_STATUS_SERVING);
    // The gpu classes are configured, no pool serves them, and nothing waits there: nothing is wrong.
    const gpu = idle.components.find((c) => c.name === 'queue:gpu')!;
    expect(gpu.status).toBe(ServingStatus.SERVING_STATUS_SERVING);
    expect(gpu.detail).toContain('0 pool(s) serving');

    const { taskId } = await sys.client.submitTask({ taskClass: 'gpu', payload: { a: '1' } });
    const waiting = await sys.client.health();
    expect(waiting.status).toBe(ServingStatus.SERVING_STATUS_DEGRADED);
    const q = waiting.components.find((c) => c.name === 'queue:gpu')!;
    expect(q.status).toBe(ServingStatus.SERVING_STATUS_DEGRADED);
    expect(q.detail).toMatch(/1 task\(s\) waiting.*no pool serves/);
    // orchctl says the same and exits 1 unless serving.
    const degraded = await spawnOrchctl(['--addr', sys.addr, 'health']).done;
    expect([degraded.code, degraded.out]).toEqual([1, expect.stringMatching(/^degraded/)]);

    await sys.client.cancelTask(taskId);
    expect((await sys.client.health()).status).toBe(ServingStatus.SERVING_STATUS_SERVING);
    const serving = await spawnOrchctl(['--addr', sys.addr, 'health']).done;
    expect([serving.code, serving.out]).toEqual([0, expect.stringMatching(/^serving/)]);

    // A paused class is an operator's decision, not a fault.
    await sys.client.pauseClass('cpu_short');
    try {
      const paused = await sys.client.health();
      expect(paused.status).toBe(ServingStatus.SERVING_STATUS_SERVING);
      expect(paused.components.find((c) => c.name === 'queue:cpu_short')?.detail).toContain('paused');
    } finally {
      await sys.client.resumeClass('cpu_short');
    }
  });

  it('is DEGRADED when work waits in a class whose only pool has gone', async () => {
    // Work waiting in the class the only pool served, after that pool went away.
    await sys.client.pauseClass('cpu_short');
    const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { a: '1' } });
    pool.kill('SIGTERM');
    await pool.exited;
    try {
      const h = (await waitFor(
        async () => {
          const got = await sys.client.health();
          return got.components.find((c) => c.name === 'pools')?.detail.startsWith('0 pool') ? got : undefined;
        },
        { message: 'the stopped pool was still seen' },
      ))!;
      expect(h.status).toBe(ServingStatus.SERVING_STATUS_DEGRADED);
      expect(h.components.find((c) => c.name === 'queue:cpu_short')?.status).toBe(ServingStatus.SERVING_STATUS_DEGRADED);
      expect(h.components.find((c) => c.name === 'redis')?.status).toBe(ServingStatus.SERVING_STATUS_SERVING);
    } finally {
      await sys.client.resumeClass('cpu_short');
      pool = await sys.startPool({ classes: 'cpu_short:4' });
    }
    await sys.client.waitForResult(taskId, { timeoutMs: 20_000 });
    await waitFor(async () => (await sys.client.health()).status === ServingStatus.SERVING_STATUS_SERVING, {
      message: 'health did not come back to SERVING once the work was done',
    });
  });
});

describe('ListTasks submit-time window', { timeout: 60_000 }, () => {
  it('finds exactly the tasks whose reported submit times fall in a window built from them', async () => {
    // cpu_long has no pool: the tasks stay queued. One submit at a time, so their times differ.
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await sys.client.submitTask({ taskId: `win-${i}`, taskClass: 'cpu_long', payload: { i: String(i) } })).taskId);
    const listed = (await sys.client.listTasks({ taskClasses: ['cpu_long'] }, { pageSize: 1_000 })).tasks.filter((t) => t.taskId.startsWith('win-'));
    expect(listed.map((t) => t.taskId).sort()).toEqual([...ids].sort());
    for (const t of listed) {
      // GetTaskStatus, ListTasks and the task's submitted event tell one submit time.
      expect((await sys.client.getTaskStatus(t.taskId)).submittedAtMs).toBe(t.submittedAtMs);
      expect((await eventsOf(t.taskId)).find((e) => e.type === 'submitted')?.at).toBe(String(t.submittedAtMs));
      // A window of that one millisecond (since inclusive, until exclusive) finds the task.
      const one = await sys.client.listTasks({ taskClasses: ['cpu_long'], submittedSinceMs: t.submittedAtMs, submittedUntilMs: t.submittedAtMs + 1 });
      expect(one.tasks.map((x) => x.taskId)).toContain(t.taskId);
      expect(one.tasks.every((x) => x.submittedAtMs === t.submittedAtMs)).toBe(true);
    }
    // From the earliest reported time to just past the latest: exactly these tasks.
    const times = listed.map((t) => t.submittedAtMs);
    const since = Math.min(...times);
    const until = Math.max(...times) + 1;
    const all = (await sys.client.listTasks({ taskClasses: ['cpu_long'], submittedSinceMs: since, submittedUntilMs: until }, { pageSize: 1_000 })).tasks;
    expect(all.map((t) => t.taskId).sort()).toEqual([...ids].sort());
    // The edges: until exclusive drops the latest ones, since just past the earliest drops it.
    const latest = listed.filter((t) => t.submittedAtMs === until - 1).map((t) => t.taskId);
    const beforeLatest = (await sys.client.listTasks({ taskClasses: ['cpu_long'], submittedSinceMs: since, submittedUntilMs: until - 1 }, { pageSize: 1_000 }))
      .tasks;
    expect(beforeLatest.map((t) => t.taskId).filter((id) => latest.includes(id))).toEqual([]);
    for (const id of ids) await sys.client.cancelTask(id);
  });
});

describe('requeued events', { timeout: 60_000 }, () => {
  it('carry the attempt the retried task runs next, the same as its next started event', async () => {
    const task: TaskInput = { taskId: 'rq-1', taskClass: 'cpu_short', payload: { a: '1' }, executor: { handler: 'fail' }, maxAttempts: 2 };
    await sys.client.submitTask(task);
    const first = await sys.client.waitForResult('rq-1', { timeoutMs: 20_000 });
    expect([first.state, first.attempt]).toEqual([TaskState.TASK_STATE_FAILED, 2]);
    const res = await sys.client.retryTasks({ taskIds: ['rq-1'] });
    expect(res.retried).toEqual(['rq-1']);
    await waitFor(async () => (await eventsOf('rq-1')).filter((e) => e.type === 'failed').length === 2, { message: 'the retried run never failed' });
    const events = await eventsOf('rq-1');
    const requeued = events.filter((e) => e.type === 'requeued');
    expect(requeued.map((e) => [e.attempt, e.detail])).toEqual([['3', 'retried on request']]);
    // The started event right after the requeued one has the same attempt.
    const after = events.slice(events.indexOf(requeued[0]!) + 1).find((e) => e.type === 'started');
    expect(after?.attempt).toBe('3');
    expect(events.filter((e) => e.type === 'started').map((e) => e.attempt)).toEqual(['1', '2', '3', '4']);
  });
});

describe('ended schedules', { timeout: 60_000 }, () => {
  it('report next_run_at_ms 0 once their end time has passed, in GetSchedule, ListSchedules and orchctl', async () => {
    const endAtMs = Date.now() + 1_500;
    const created = await sys.client.createSchedule({ scheduleId: 'ends-soon', everyMs: 300, endAtMs, task: { taskClass: 'cpu_short', payload: { s: '1' } } });
    expect(created.nextRunAtMs).toBeGreaterThan(0);
    // Past its end, with the last tick that fired recorded.
    await waitFor(async () => Date.now() > endAtMs + 500 && (await sys.client.getSchedule('ends-soon')).lastRunAtMs > 0, {
      message: 'the schedule never fired',
    });
    const last = (await sys.client.getSchedule('ends-soon')).lastRunAtMs;
    expect(last).toBeLessThanOrEqual(endAtMs);
    const got = await sys.client.getSchedule('ends-soon');
    expect(got.nextRunAtMs).toBe(0);
    expect(got.lastRunAtMs).toBe(last);
    const listed = (await sys.client.listSchedules()).find((s) => s.spec?.scheduleId === 'ends-soon');
    expect(listed?.nextRunAtMs).toBe(0);
    const cli = await spawnOrchctl(['--addr', sys.addr, '--json', 'schedule', 'get', 'ends-soon']).done;
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.out)).toMatchObject({ spec: { scheduleId: 'ends-soon' }, nextRunAtMs: null });
    // A later end starts it again.
    const extended = await sys.client.updateSchedule({
      scheduleId: 'ends-soon',
      everyMs: 300,
      endAtMs: Date.now() + 60_000,
      task: { taskClass: 'cpu_short', payload: { s: '1' } },
    });
    expect(extended.nextRunAtMs).toBeGreaterThan(0);
    await waitFor(async () => (await sys.client.getSchedule('ends-soon')).lastRunAtMs > last, { message: 'the extended schedule never fired' });
    await sys.client.deleteSchedule('ends-soon');
  });
});

describe('cancelled task status', { timeout: 60_000 }, () => {
  it('keeps attempts made and allowed, submit time and priority of a task cancelled while queued', async () => {
    // cpu_long has no pool: the task waits in its queue.
    await sys.client.submitTask({ taskId: 'cq-1', taskClass: 'cpu_long', payload: { a: '1' }, maxAttempts: 3, priority: 7 });
    const before = await sys.client.getTaskStatus('cq-1');
    expect(before.state).toBe(TaskState.TASK_STATE_QUEUED);
    const t0 = Date.now();
    expect((await sys.client.cancelTask('cq-1', 'not needed')).state).toBe(TaskState.TASK_STATE_CANCELLED);
    const after = await sys.client.getTaskStatus('cq-1');
    expect(after).toMatchObject({
      state: TaskState.TASK_STATE_CANCELLED,
      attemptsMade: 0,
      maxAttempts: 3,
      submittedAtMs: before.submittedAtMs,
      startedAtMs: 0,
      priority: 7,
      error: 'cancelled: not needed',
    });
    expect(after.finishedAtMs).toBeGreaterThanOrEqual(t0 - 1_000);
    const [summary] = (
      await sys.client.listTasks({ taskClasses: ['cpu_long'], submittedSinceMs: before.submittedAtMs, submittedUntilMs: before.submittedAtMs + 1 })
    ).tasks.filter((t) => t.taskId === 'cq-1');
    expect(summary).toMatchObject({ state: TaskState.TASK_STATE_CANCELLED, attemptsMade: 0, maxAttempts: 3, submittedAtMs: before.submittedAtMs, priority: 7 });
    // It never runs, and a submit of the same task again finds it cancelled rather than queueing it anew.
    const again = await sys.client.submitTask({ taskId: 'cq-1', taskClass: 'cpu_long', payload: { a: '1' }, maxAttempts: 3, priority: 7 });
    expect(again.created).toBe(false);
    expect((await sys.client.getTaskStatus('cq-1')).state).toBe(TaskState.TASK_STATE_CANCELLED);
    expect((await eventsOf('cq-1')).map((e) => e.type)).toEqual(['submitted', 'cancelled']);
  });

  it('keeps the attempt it ran of a task cancelled while waiting out a retry backoff', async () => {
    await sys.client.submitTask({
      taskId: 'cb-1',
      taskClass: 'cpu_short',
      payload: { a: '1' },
      executor: { handler: 'fail' },
      maxAttempts: 3,
      backoff: { type: 'fixed', delayMs: 600_000 },
    });
    const waiting = (await waitFor(
      async () => {
        const s = await sys.client.getTaskStatus('cb-1');
        return s.state === TaskState.TASK_STATE_SCHEDULED && s.attemptsMade === 1 ? s : undefined;
      },
      { message: 'cb-1 never failed its first attempt' },
    ))!;
    expect((await sys.client.cancelTask('cb-1', 'giving up')).state).toBe(TaskState.TASK_STATE_CANCELLED);
    const after = await sys.client.getTaskStatus('cb-1');
    expect(after).toMatchObject({
      state: TaskState.TASK_STATE_CANCELLED,
      attemptsMade: 1,
      maxAttempts: 3,
      submittedAtMs: waiting.submittedAtMs,
      workerId: pool.id,
      startedAtMs: waiting.startedAtMs,
      error: 'cancelled: giving up',
    });
    expect(after.startedAtMs).toBeGreaterThan(0);
    expect(after.finishedAtMs).toBeGreaterThanOrEqual(after.startedAtMs);
    // The cancelled outcome names the attempt it ran.
    const r = await sys.client.waitForResult('cb-1', { timeoutMs: 20_000 });
    expect([r.state, r.attempt]).toEqual([TaskState.TASK_STATE_CANCELLED, 1]);
  });

  it('keeps attempts, submit time, worker and the times of the attempt it ran of a task cancelled while running', async () => {
    await sys.client.submitTask({ taskId: 'cr-1', taskClass: 'cpu_short', payload: { ms: '30000' }, executor: { handler: 'sleep' }, maxAttempts: 3 });
    const running = (await waitFor(
      async () => {
        const s = await sys.client.getTaskStatus('cr-1');
        return s.state === TaskState.TASK_STATE_RUNNING ? s : undefined;
      },
      { message: 'cr-1 never ran' },
    ))!;
    await sys.client.cancelTask('cr-1', 'stop it');
    const r = await sys.client.waitForResult('cr-1', { timeoutMs: 20_000 });
    expect(r.state).toBe(TaskState.TASK_STATE_CANCELLED);
    const after = await sys.client.getTaskStatus('cr-1');
    expect(after).toMatchObject({
      state: TaskState.TASK_STATE_CANCELLED,
      attemptsMade: 1,
      maxAttempts: 3,
      submittedAtMs: running.submittedAtMs,
      workerId: pool.id,
      startedAtMs: running.startedAtMs,
    });
    expect(after.startedAtMs).toBeGreaterThan(0);
    expect(after.finishedAtMs).toBeGreaterThanOrEqual(after.startedAtMs);
    const [summary] = (
      await sys.client.listTasks({ taskClasses: ['cpu_short'], submittedSinceMs: running.submittedAtMs, submittedUntilMs: running.submittedAtMs + 1 })
    ).tasks.filter((t) => t.taskId === 'cr-1');
    expect(summary).toMatchObject({
      state: TaskState.TASK_STATE_CANCELLED,
      attemptsMade: 1,
      maxAttempts: 3,
      workerId: pool.id,
      startedAtMs: after.startedAtMs,
      finishedAtMs: after.finishedAtMs,
    });
  });
});
