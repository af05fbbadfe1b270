/**
 * Finding and replaying tasks against a real Redis and a real pool: ListTasks paging through
 * 1,000 tasks in several classes and states (with tasks submitted while paging), its filters,
 * RetryTasks by ids and by filter, PurgeTasks by age, orchctl's tasks / retry / purge, and bad
 * input refused with INVALID_ARGUMENT naming the field.
 */
import { status } from '@grpc/grpc-js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState, type TaskFilterInput, type TaskInput, type TaskSummary } from '../src/client/orchestrator-client.js';
import { createLogger } from '../src/logging/logger.js';
import { TaskQueues } from '../src/tasks/task-queues.js';
import { TaskRetention } from '../src/tasks/task-retention.js';
import { fieldOf, grpcError } from './helpers/grpc.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
import { orchctl as runOrchctl } from './helpers/orchctl.js';
import { waitFor } from './helpers/wait.js';
import { taskReadableTempDir } from './helpers/temp-dir.js';

let sys: TestSystem;
const dir = taskReadableTempDir('orq-task-ops-');

beforeAll(async () => {
  // Finished tasks are kept (large counts): retention has its own suite.
  sys = await startSystem({ toml: `${TEST_CONFIG_TOML}\n[retention]\nsweepIntervalMs = 200\n` });
  await sys.startPool({ classes: 'inproc:8,cpu_short:4' });
});
afterAll(async () => sys?.stop());

async function allDone(ids: string[]): Promise<void> {
  for await (const r of sys.client.streamTaskResults({ taskIds: ids, closeWhenDone: true })) void r;
}

const FINISHED = [TaskState.TASK_STATE_SUCCEEDED, TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_CANCELLED];

/**
 * Every task's result is out and BullMQ has recorded its end. A pool writes the result first and
 * tells BullMQ just after, so for a moment a task has a result while its job is still active:
 * retry and purge act on what BullMQ has recorded.
 */
async function allSettled(taskClass: string, ids: string[]): Promise<void> {
  await allDone(ids);
  await waitFor(async () => {
    const done = new Set((await listAll({ taskClasses: [taskClass], states: FINISHED }, 1_000)).map((t) => t.taskId));
    return ids.every((id) => done.has(id));
  });
}

async function listAll(filter: TaskFilterInput, pageSize: number, between?: () => Promise<void>): Promise<TaskSummary[]> {
  const out: TaskSummary[] = [];
  let pageToken = '';
  do {
    const page = await sys.client.listTasks(filter, { pageSize, pageToken });
    expect(page.tasks.length).toBeLessThanOrEqual(pageSize);
    out.push(...page.tasks);
    pageToken = page.nextPageToken;
    await between?.();
  } while (pageToken);
  return out;
}

/** A task that fails until `flag` exists (a command run by the pool). */
const flaky = (taskId: string, flag: string): TaskInput => ({
  taskId,
  taskClass: 'cpu_short',
  payload: { n: '1' },
  executor: { command: { argv: ['sh', '-c', `test -e ${flag}`] } },
});

describe('ListTasks', { timeout: 180_000 }, () => {
  /** Batch b of 100: its ids, and the time range its submission fell in. */
  const batches: { ids: string[]; fromMs: number; toMs: number }[] = [];
  const failing = new Set<string>();

  beforeAll(async () => {
    for (let b = 0; b < 10; b++) {
      const tasks = Array.from({ length: 100 }, (_, i): TaskInput => {
        const taskId = `lt-b${String(b).padStart(2, '0')}-${String(i).padStart(3, '0')}`;
        // 0-3: queued (no pool serves cpu_long); 4: scheduled far ahead; 5-9: run on the pool,
        // every fourth task failing.
        if (b < 4) return { taskId, taskClass: 'cpu_long', payload: { n: '1' } };
        if (b === 4) return { taskId, taskClass: 'cpu_long', payload: { n: '1' }, delayMs: 3_600_000 };
        if (i % 4 === 0) {
          failing.add(taskId);
          return { taskId, taskClass: 'inproc', payload: { retryable: 'false' }, executor: { handler: 'fail' } };
        }
        return { taskId, taskClass: 'inproc', payload: { n: '1' } };
      });
      const fromMs = Date.now();
      await sys.client.submitTasks(tasks);
      const toMs = Date.now();
      batches.push({ ids: tasks.map((t) => t.taskId!), fromMs, toMs });
      // The next batch is submitted in a later millisecond, so time ranges split exactly.
      await waitFor(() => Date.now() > toMs, { intervalMs: 1 });
    }
    await allDone(batches.slice(5).flatMap((b) => b.ids));
    // A workflow run's step tasks carry its id (clients cannot set one): queued, like batches 0-3.
    await sys.client.createWorkflow({
      name: 'wf-list',
      steps: Array.from({ length: 20 }, (_, i) => ({ stepId: `s${i}`, task: { taskClass: 'cpu_long', payload: { n: '1' } } })),
    });
    await sys.client.startWorkflowRun({ name: 'wf-list', runId: 'wf-list' });
  });

  it('pages through 1,000 tasks newest first, nothing missed or repeated, while more are submitted', async () => {
    let extra = 0;
    const listed = await listAll({}, 37, async () => {
      const tasks = Array.from({ length: 5 }, () => ({ taskId: `lt-new-${extra++}`, taskClass: 'cpu_long', payload: { n: '1' } }));
      await sys.client.submitTasks(tasks);
    });
    const ids = listed.map((t) => t.taskId);
    expect(new Set(ids).size).toBe(ids.length);
    const original = ids.filter((id) => id.startsWith('lt-b'));
    expect(original).toHaveLength(1_000);
    // Newest first: batch numbers never go up along the list, ids within a batch go down.
    expect(original).toEqual([...original].sort().reverse());
    const byId = new Map(listed.map((t) => [t.taskId, t]));
    expect(byId.get('lt-b00-000')!.state).toBe(TaskState.TASK_STATE_QUEUED);
    expect(byId.get('lt-b04-000')!.state).toBe(TaskState.TASK_STATE_SCHEDULED);
    expect(byId.get('lt-b05-000')).toMatchObject({ state: TaskState.TASK_STATE_FAILED, taskClass: 'inproc', attemptsMade: 1 });
    expect(byId.get('lt-b05-001')).toMatchObject({ state: TaskState.TASK_STATE_SUCCEEDED, taskClass: 'inproc' });
  });

  it('filters by class, state, workflow and submit time', async () => {
    const failed = await listAll({ states: [TaskState.TASK_STATE_FAILED], taskClasses: ['inproc'] }, 50);
    expect(new Set(failed.map((t) => t.taskId))).toEqual(failing);

    const done = await listAll({ states: [TaskState.TASK_STATE_SUCCEEDED, TaskState.TASK_STATE_FAILED] }, 1_000);
    expect(done).toHaveLength(500);

    const scheduled = await listAll({ taskClasses: ['cpu_long'], states: [TaskState.TASK_STATE_SCHEDULED] }, 30);
    expect(scheduled.map((t) => t.taskId).sort()).toEqual(batches[4]!.ids);

    // A payload key that looks like a workflow id is not one.
    await sys.client.submitTask({ taskId: 'lt-not-wf', taskClass: 'cpu_long', payload: { workflowId: 'wf-list', '"workflowId"': '"wf-list"}' } });
    const wf = await listAll({ workflowId: 'wf-list' }, 1_000);
    expect(wf.map((t) => t.taskId).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `wf-list.s${i}`).sort());
    expect(wf[0]).toMatchObject({ workflowId: 'wf-list', taskClass: 'cpu_long', maxAttempts: 3, attemptsMade: 0 });

    // Batches 3 to 6 by submit time, in pages that cross class boundaries.
    const range = await listAll({ submittedSinceMs: batches[3]!.fromMs, submittedUntilMs: batches[6]!.toMs + 1 }, 64);
    expect(range.map((t) => t.taskId).sort()).toEqual(batches.slice(3, 7).flatMap((b) => b.ids));
  });

  it('refuses bad input with INVALID_ARGUMENT naming the field', async () => {
    const cases: [Promise<unknown>, string][] = [
      [sys.client.listTasks({}, { pageToken: 'not a token!' }), 'page_token'],
      [sys.client.listTasks({}, { pageToken: Buffer.from('{"s":"x"}').toString('base64url') }), 'page_token'],
      [sys.client.listTasks({}, { pageSize: -1 }), 'page_size'],
      [sys.client.listTasks({}, { pageSize: 1_001 }), 'page_size'],
      [sys.client.listTasks({ taskClasses: ['nope'] }), 'filter.task_classes'],
      [sys.client.listTasks({ states: [42 as TaskState] }), 'filter.states[0]'],
      [sys.client.listTasks({ submittedSinceMs: -5 }), 'filter.submitted_since_ms'],
      [sys.client.listTasks({ submittedSinceMs: 2_000, submittedUntilMs: 1_000 }), 'filter.submitted_until_ms'],
      [sys.client.retryTasks({ taskIds: [] }), 'task_ids'],
      [sys.client.retryTasks({ filter: { states: [TaskState.TASK_STATE_SUCCEEDED] } }), 'filter.states'],
      [sys.client.retryTasks({ filter: { taskClasses: ['nope'] } }), 'filter.task_classes'],
      [sys.client.purgeTasks({ olderThanMs: -1 }), 'older_than_ms'],
      [sys.client.purgeTasks({ olderThanMs: 0, taskClasses: ['nope'] }), 'task_classes'],
      [sys.client.purgeTasks({ olderThanMs: 0, states: [TaskState.TASK_STATE_QUEUED] }), 'states'],
    ];
    for (const [call, field] of cases) {
      const err = await grpcError(call);
      expect([err.code, fieldOf(err)], field).toEqual([status.INVALID_ARGUMENT, field]);
    }
  });
});

describe('RetryTasks', { timeout: 120_000 }, () => {
  it('retries failed tasks by id, reporting the ones it cannot retry, and they then succeed', async () => {
    const flag = join(dir, 'flag-ids');
    const tasks = Array.from({ length: 20 }, (_, i) => flaky(`rt-id-${i}`, flag));
    await sys.client.submitTasks(tasks);
    await allSettled(
      'cpu_short',
      tasks.map((t) => t.taskId!),
    );
    const ok = await sys.client.submitTask({ taskId: 'rt-ok', taskClass: 'inproc', payload: { n: '1' } });
    await sys.client.waitForResult(ok.taskId, { timeoutMs: 20_000 });
    const failed = await sys.client.getTaskStatus('rt-id-0');
    expect(failed.state).toBe(TaskState.TASK_STATE_FAILED);
    const made = failed.attemptsMade;
    expect(made).toBe(failed.maxAttempts);

    writeFileSync(flag, '');
    // Paused, so the retried tasks are seen queued again, a new round of as many attempts to go:
    // attempts count the round, `attempt` (the number events carry) goes on.
    await sys.client.pauseClass('cpu_short');
    const res = await sys.client.retryTasks({ taskIds: [...tasks.map((t) => t.taskId!), 'rt-ok', 'rt-missing'] });
    expect(await sys.client.getTaskStatus('rt-id-0')).toMatchObject({
      state: TaskState.TASK_STATE_QUEUED,
      attemptsMade: 0,
      maxAttempts: made,
      attempt: made,
      error: '',
      failure: undefined,
    });
    await sys.client.resumeClass('cpu_short');
    expect(res.retried.sort()).toEqual(tasks.map((t) => t.taskId!).sort());
    expect(res.errors.map((e) => [e.taskId, e.code]).sort()).toEqual([
      ['rt-missing', 'NOT_FOUND'],
      ['rt-ok', 'FAILED_PRECONDITION'],
    ]);
    await waitFor(async () => {
      const states = await Promise.all(tasks.map(async (t) => (await sys.client.getTaskStatus(t.taskId!)).state));
      return states.every((s) => s === TaskState.TASK_STATE_SUCCEEDED);
    });
    const s = await sys.client.getTaskStatus('rt-id-3');
    expect(s).toMatchObject({ attemptsMade: 1, maxAttempts: made, attempt: made + 1, error: '' });
    // The feeds tell of the retry, and attempt numbers go on from where they were: a consumer
    // dropping duplicates by (task_id, attempt) keeps the retried run's outcome.
    const events = (await sys.r.xrange(sys.keys.events, '-', '+')).map(([, f]) => Object.fromEntries(f.flatMap((v, i) => (i % 2 ? [] : [[v, f[i + 1]!]]))));
    const mine = events.filter((e) => e.task_id === 'rt-id-3');
    // The requeued event carries the attempt the task runs next, as its next started event does.
    expect(mine.filter((e) => e.type === 'requeued').map((e) => Number(e.attempt))).toEqual([made + 1]);
    const finals = mine.filter((e) => e.type === 'failed' || e.type === 'succeeded').map((e) => `${e.type}:${e.attempt}`);
    expect(finals).toEqual([`failed:${made}`, `succeeded:${made + 1}`]);
    const started = mine.filter((e) => e.type === 'started').map((e) => Number(e.attempt));
    expect(started).toEqual(Array.from({ length: made + 1 }, (_, i) => i + 1));
    // A subscription to the class is given both of its results: the failure, then the retried run's success.
    const results = sys.client.streamTaskResults({ taskClass: 'cpu_short' });
    const got: [TaskState, number][] = [];
    const reading = (async () => {
      for await (const r of results) if (r.taskId === 'rt-id-3') got.push([r.state, r.attempt]);
    })().catch(() => undefined);
    try {
      await waitFor(() => got.length >= 2, { message: "the class's results never showed rt-id-3 twice" });
    } finally {
      results.cancel();
      await reading;
    }
    expect(got).toEqual([
      [TaskState.TASK_STATE_FAILED, made],
      [TaskState.TASK_STATE_SUCCEEDED, made + 1],
    ]);
  });

  it('retries every failed task matching a filter', async () => {
    const flag = join(dir, 'flag-filter');
    const since = Date.now();
    const tasks = Array.from({ length: 30 }, (_, i) => flaky(`rt-f-${i}`, flag));
    await sys.client.submitTasks(tasks);
    await allSettled(
      'cpu_short',
      tasks.map((t) => t.taskId!),
    );
    writeFileSync(flag, '');
    const res = await sys.client.retryTasks({ filter: { taskClasses: ['cpu_short'], submittedSinceMs: since } });
    expect(res.retried.sort()).toEqual(tasks.map((t) => t.taskId!).sort());
    expect(res.more).toBe(false);
    expect(res.errors).toEqual([]);
    await allDoneSucceeded(tasks.map((t) => t.taskId!));
    const still = await listAll({ taskClasses: ['cpu_short'], states: [TaskState.TASK_STATE_FAILED], submittedSinceMs: since }, 100);
    expect(still).toEqual([]);
  });
  it('leaves alone a task retried after a sweep or purge read its id', async () => {
    const flag = join(dir, 'flag-stale');
    const task = flaky('rt-stale', flag);
    await sys.client.submitTask(task);
    await allSettled('cpu_short', ['rt-stale']);
    // A second remover, as a sweep or purge on another orchestrator that has just read this
    // task's id from the failed set.
    const queues = new TaskQueues({ redis: sys.r, keys: sys.keys, classes: sys.config.classes });
    const remover = new TaskRetention({ redis: sys.r, keys: sys.keys, queues, logger: createLogger('warn'), ownerId: 'test' });
    try {
      await sys.client.pauseClass('cpu_short');
      expect((await sys.client.retryTasks({ taskIds: ['rt-stale'] })).retried).toEqual(['rt-stale']);
      expect(await remover.removeTasks('cpu_short', 0, 'failed', ['rt-stale'])).toBe(0);
      expect((await sys.client.getTaskStatus('rt-stale')).state).toBe(TaskState.TASK_STATE_QUEUED);
      writeFileSync(flag, '');
      await sys.client.resumeClass('cpu_short');
      await allDoneSucceeded(['rt-stale']);
    } finally {
      await sys.client.resumeClass('cpu_short');
      await queues.close();
    }
  });
});

async function allDoneSucceeded(ids: string[]): Promise<void> {
  await waitFor(async () => {
    const page = await sys.client.listTasks({ taskClasses: ['cpu_short'], states: [TaskState.TASK_STATE_SUCCEEDED] }, { pageSize: 1_000 });
    const ok = new Set(page.tasks.map((t) => t.taskId));
    return ids.every((id) => ok.has(id));
  });
}

describe('PurgeTasks', { timeout: 120_000 }, () => {
  it('removes finished tasks older than an age, with their index and list entries', async () => {
    const tasks = Array.from({ length: 40 }, (_, i) =>
      i % 2
        ? { taskId: `pg-${i}`, taskClass: 'inproc', payload: { n: '1' } }
        : { taskId: `pg-${i}`, taskClass: 'inproc', payload: { n: '1' }, executor: { handler: 'fail' } },
    );
    await sys.client.submitTasks(tasks);
    await allSettled(
      'inproc',
      tasks.map((t) => t.taskId),
    );
    // Nothing finished an hour ago.
    expect(await sys.client.purgeTasks({ olderThanMs: 3_600_000, taskClasses: ['inproc'] })).toBe(0);

    const failedBefore = (await listAll({ taskClasses: ['inproc'], states: [TaskState.TASK_STATE_FAILED] }, 1_000)).length;
    const removedFailed = await sys.client.purgeTasks({ olderThanMs: 0, taskClasses: ['inproc'], states: [TaskState.TASK_STATE_FAILED] });
    expect(removedFailed).toBe(failedBefore);
    expect(await listAll({ taskClasses: ['inproc'], states: [TaskState.TASK_STATE_FAILED] }, 1_000)).toEqual([]);
    expect((await sys.client.getTaskStatus('pg-1')).state).toBe(TaskState.TASK_STATE_SUCCEEDED);
    expect((await grpcError(sys.client.getTaskStatus('pg-0'))).code).toBe(status.NOT_FOUND);

    await sys.client.purgeTasks({ olderThanMs: 0, taskClasses: ['inproc'] });
    expect(await listAll({ taskClasses: ['inproc'] }, 1_000)).toEqual([]);
    expect(await sys.r.xlen(sys.keys.taskList('inproc'))).toBe(0);
    expect(await sys.r.hget(sys.keys.taskIndex('pg-1'), 'pg-1')).toBeNull();
  });

  it('purges cancelled tasks, those cancelled while queued included', async () => {
    // cpu_long has no pool here: the task waits until cancelled.
    await sys.client.submitTask({ taskId: 'pg-cq', taskClass: 'cpu_long', payload: { n: '1' } });
    expect((await sys.client.cancelTask('pg-cq', 'not needed')).state).toBe(TaskState.TASK_STATE_CANCELLED);
    expect((await sys.client.getTaskStatus('pg-cq')).state).toBe(TaskState.TASK_STATE_CANCELLED);
    expect(await sys.client.purgeTasks({ olderThanMs: 0, taskClasses: ['cpu_long'], states: [TaskState.TASK_STATE_CANCELLED] })).toBeGreaterThanOrEqual(1);
    expect((await grpcError(sys.client.getTaskStatus('pg-cq'))).code).toBe(status.NOT_FOUND);
    expect((await sys.r.xrange(sys.keys.taskList('cpu_long'), '-', '+')).filter(([, f]) => f[1] === 'pg-cq')).toEqual([]);
    expect(await sys.r.hget(sys.keys.cancel, 'pg-cq')).toBeNull();
  });

  it('keeps what finished more recently than the age', async () => {
    const finished = (ids: string[]) => allSettled('inproc', ids);
    const older = Array.from({ length: 10 }, (_, i) => ({ taskId: `pg-old-${i}`, taskClass: 'inproc', payload: { n: '1' } }));
    await sys.client.submitTasks(older);
    await finished(older.map((t) => t.taskId));
    const between = Date.now();
    // The newer tasks finish well after `between`, so a cut there splits the two groups.
    await waitFor(() => Date.now() > between + 300, { intervalMs: 10 });
    const newer = Array.from({ length: 10 }, (_, i) => ({ taskId: `pg-new-${i}`, taskClass: 'inproc', payload: { n: '1' } }));
    await sys.client.submitTasks(newer);
    await finished(newer.map((t) => t.taskId));

    const removed = await sys.client.purgeTasks({ olderThanMs: Date.now() - between - 50, taskClasses: ['inproc'] });
    expect(removed).toBe(10);
    const left = await listAll({ taskClasses: ['inproc'] }, 1_000);
    expect(left.map((t) => t.taskId).sort()).toEqual(newer.map((t) => t.taskId).sort());
  });
});

describe('orchctl tasks, retry, purge', { timeout: 120_000 }, () => {
  const orchctl = (args: string[]) => runOrchctl(['--addr', sys.addr, ...args]);

  it('lists, retries and purges from the command line', async () => {
    const flag = join(dir, 'flag-cli');
    const tasks = Array.from({ length: 3 }, (_, i) => flaky(`cli-ops-${i}`, flag));
    await sys.client.submitTasks(tasks);
    await allDone(tasks.map((t) => t.taskId!));

    const listed = await orchctl(['--json', 'tasks', '--class', 'cpu_short', '--state', 'failed', '--all']);
    expect(listed.code, listed.err).toBe(0);
    const rows = (JSON.parse(listed.out) as { tasks: { taskId: string; state: string }[] }).tasks;
    expect(rows.filter((r) => r.taskId.startsWith('cli-ops-')).map((r) => r.state)).toEqual(['TASK_STATE_FAILED', 'TASK_STATE_FAILED', 'TASK_STATE_FAILED']);

    const bad = await orchctl(['tasks', '--state', 'sleeping']);
    expect(bad.code).toBe(2);
    const badToken = await orchctl(['tasks', '--page-token', '%%%']);
    expect([badToken.code, badToken.err]).toEqual([2, expect.stringContaining('page_token')]);

    writeFileSync(flag, '');
    const retried = await orchctl(['retry', 'cli-ops-0', 'cli-ops-1']);
    expect(retried.code, retried.err).toBe(0);
    expect(retried.out).toContain('retried 2 task(s)');
    const byFilter = await orchctl(['--json', 'retry', '--failed', '--class', 'cpu_short']);
    expect(byFilter.code, byFilter.err).toBe(0);
    expect(JSON.parse(byFilter.out).retried).toContain('cli-ops-2');
    await allDoneSucceeded(tasks.map((t) => t.taskId!));

    const purged = await orchctl(['--json', 'purge', '--older-than', '0', '--class', 'cpu_short', '--state', 'succeeded']);
    expect(purged.code, purged.err).toBe(0);
    expect(JSON.parse(purged.out).removed).toBeGreaterThanOrEqual(3);
    expect((await grpcError(sys.client.getTaskStatus('cli-ops-0'))).code).toBe(status.NOT_FOUND);
  });

  it('drains a class: every queued and scheduled task ends cancelled', async () => {
    // cpu_long has no pool here: its tasks from the ListTasks suite still wait.
    const waiting = await listAll({ taskClasses: ['cpu_long'], states: [TaskState.TASK_STATE_QUEUED, TaskState.TASK_STATE_SCHEDULED] }, 1_000);
    expect(waiting.length).toBeGreaterThanOrEqual(500);
    const drained = await orchctl(['--json', 'queue', 'drain', 'cpu_long']);
    expect(drained.code, drained.err).toBe(0);
    expect(JSON.parse(drained.out)).toMatchObject({ taskClass: 'cpu_long', cancelled: waiting.length });
    expect(await listAll({ taskClasses: ['cpu_long'], states: [TaskState.TASK_STATE_QUEUED, TaskState.TASK_STATE_SCHEDULED] }, 1_000)).toEqual([]);
    const cancelled = await listAll({ taskClasses: ['cpu_long'], states: [TaskState.TASK_STATE_CANCELLED] }, 1_000);
    expect(cancelled.map((t) => t.taskId).sort()).toEqual(waiting.map((t) => t.taskId).sort());
    expect((await sys.client.getTaskStatus('lt-b04-000')).state).toBe(TaskState.TASK_STATE_CANCELLED);
  });

  it('pauses, resumes and retries the failed tasks of a class under `queue`', async () => {
    const flag = join(dir, 'flag-queue');
    const tasks = Array.from({ length: 5 }, (_, i) => flaky(`q-rf-${i}`, flag));
    await sys.client.submitTasks(tasks);
    await allSettled(
      'cpu_short',
      tasks.map((t) => t.taskId!),
    );
    const paused = await orchctl(['--json', 'queue', 'pause', 'cpu_short']);
    expect(paused.code, paused.err).toBe(0);
    expect(JSON.parse(paused.out)).toMatchObject({ taskClass: 'cpu_short', paused: true });
    writeFileSync(flag, '');
    const retried = await orchctl(['--json', 'queue', 'retry-failed', 'cpu_short']);
    expect(retried.code, retried.err).toBe(0);
    expect(JSON.parse(retried.out).retried).toEqual(expect.arrayContaining(tasks.map((t) => t.taskId!)));
    // Paused: the retried tasks wait.
    expect((await sys.client.getTaskStatus('q-rf-0')).state).toBe(TaskState.TASK_STATE_QUEUED);
    const resumed = await orchctl(['--json', 'queue', 'resume', 'cpu_short']);
    expect(resumed.code, resumed.err).toBe(0);
    expect(JSON.parse(resumed.out)).toMatchObject({ taskClass: 'cpu_short', paused: false });
    await allDoneSucceeded(tasks.map((t) => t.taskId!));
  });
});
