/**
 * Pools and workflow runs as first-class views, against a real Redis, real pool processes and
 * the in-process orchestrator: ListPools (two pools, busy slots while a task runs, malformed
 * registry entries skipped, a stopped pool marked), DrainPool (the running task finishes, queued
 * tasks wait for another pool, draining shown in ListPools, Health and the pool's metrics, a
 * drain with exit), ListWorkflowRuns (filters, paging, pruning of expired runs), and orchctl's
 * pools / pools drain / workflow runs.
 */
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PoolState, TaskState, WorkflowRunState, type Pool, type TaskInput, type WorkflowRunSummary } from '../src/client/orchestrator-client.js';
import { VERSION } from '../src/version.js';
import { fieldOf, grpcError } from './helpers/grpc.js';
import { orchctl } from './helpers/orchctl.js';
import { startSystem, type PoolProcess, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => sys?.stop());

const poolOf = async (id: string): Promise<Pool | undefined> => (await sys.client.listPools()).find((p) => p.poolId === id);
const sleepTask = (taskId: string, taskClass: string, ms: number): TaskInput => ({
  taskId,
  taskClass,
  payload: { ms: String(ms) },
  executor: { handler: 'sleep' },
});

describe('ListPools', { timeout: 120_000 }, () => {
  let a: PoolProcess;
  let b: PoolProcess;

  beforeAll(async () => {
    [a, b] = await Promise.all([sys.startPool({ classes: 'inproc:2' }), sys.startPool({ classes: 'inproc:1,cpu_short:3' })]);
  });

  it('lists both pools with host, pid, version, classes and concurrency', async () => {
    const pools = await sys.client.listPools();
    const pa = pools.find((p) => p.poolId === a.id)!;
    const pb = pools.find((p) => p.poolId === b.id)!;
    for (const [p, proc] of [
      [pa, a],
      [pb, b],
    ] as const) {
      expect(p.state).toBe(PoolState.POOL_STATE_RUNNING);
      expect(p.pid).toBe(proc.child.pid);
      expect(p.host).not.toBe('');
      expect(p.version).toBe(VERSION);
      expect(p.draining).toBe(false);
      expect(p.startedAtMs).toBeGreaterThan(Date.now() - 120_000);
      expect(p.lastHeartbeatMs).toBeGreaterThanOrEqual(p.startedAtMs);
      expect(`http://${p.metricsAddr}`).toBe(proc.metricsUrl);
    }
    expect(pa.classes).toEqual([{ taskClass: 'inproc', concurrency: 2, busy: 0 }]);
    expect(pb.classes.sort((x, y) => x.taskClass.localeCompare(y.taskClass))).toEqual([
      { taskClass: 'cpu_short', concurrency: 3, busy: 0 },
      { taskClass: 'inproc', concurrency: 1, busy: 0 },
    ]);
  });

  it('shows busy slots per class while a task runs', async () => {
    await sys.client.submitTask(sleepTask('busy-1', 'cpu_short', 60_000));
    // Only pool b serves cpu_short; its next heartbeat carries the running task.
    await waitFor(async () => (await poolOf(b.id))?.classes.find((c) => c.taskClass === 'cpu_short')?.busy === 1, { timeoutMs: 30_000 });
    const pb = (await poolOf(b.id))!;
    expect(pb.busy).toBe(1);
    expect((await poolOf(a.id))!.busy).toBe(0);
    await sys.client.cancelTask('busy-1', 'test over');
    await waitFor(async () => (await poolOf(b.id))?.busy === 0, { timeoutMs: 30_000 });
  });

  it('skips malformed registry entries and still answers Health', async () => {
    const now = Date.now();
    // Written by something other than a pool: bad JSON, a bad class name, a huge count, no heartbeat time.
    const bad: Record<string, Record<string, string>> = {
      'bad-json': { classes: '{not json', at: String(now) },
      'bad-class': { classes: '{"<script>":1}', at: String(now) },
      'bad-count': { classes: '{"inproc":1}', busy: '99999999999999999999', at: String(now) },
      'bad-at': { classes: '{"inproc":1}' },
      'bad-drain': { classes: '{"inproc":1}', at: String(now), draining: 'maybe' },
    };
    for (const [id, h] of Object.entries(bad)) {
      await sys.r.zadd(sys.keys.pools, now, id);
      await sys.r.hset(sys.keys.pool(id), h);
    }
    // A zset entry without a hash at all.
    await sys.r.zadd(sys.keys.pools, now, 'no-facts');
    try {
      const ids = (await sys.client.listPools()).map((p) => p.poolId);
      expect(ids).toContain(a.id);
      expect(ids).toContain(b.id);
      for (const id of [...Object.keys(bad), 'no-facts']) expect(ids).not.toContain(id);
      const health = await sys.client.health();
      expect(health.components.find((c) => c.name === 'pools')).toBeDefined();
    } finally {
      for (const id of [...Object.keys(bad), 'no-facts']) await sys.r.multi().zrem(sys.keys.pools, id).del(sys.keys.pool(id)).exec();
    }
  });

  it('lists a pool that stopped as stopped, and one gone silent as lost', async () => {
    const c = await sys.startPool({ classes: 'inproc:1' });
    c.kill('SIGTERM');
    expect(await c.exited).toBe(0);
    const pc = (await poolOf(c.id))!;
    expect(pc.state).toBe(PoolState.POOL_STATE_STOPPED);
    expect(pc.stoppedAtMs).toBeGreaterThan(0);
    expect(pc.busy).toBe(0);
    // The same id started again is listed by its new life.
    const again = await sys.startPool({ classes: 'inproc:1', id: c.id });
    const back = (await poolOf(c.id))!;
    expect(back.state).toBe(PoolState.POOL_STATE_RUNNING);
    expect(back.pid).toBe(again.child.pid);
    expect(back.stoppedAtMs).toBe(0);
    again.kill('SIGTERM');
    expect(await again.exited).toBe(0);
    const d = await sys.startPool({ classes: 'inproc:1' });
    d.kill('SIGKILL');
    await d.exited;
    // Three missed heartbeats (500 ms each in the test config) make it lost.
    await waitFor(async () => (await poolOf(d.id))?.state === PoolState.POOL_STATE_LOST, { timeoutMs: 15_000 });
    const pools = await sys.client.listPools();
    // Live pools first.
    const firstGone = pools.findIndex((p) => p.state === PoolState.POOL_STATE_STOPPED || p.state === PoolState.POOL_STATE_LOST);
    expect(pools.slice(firstGone).every((p) => p.state === PoolState.POOL_STATE_STOPPED || p.state === PoolState.POOL_STATE_LOST)).toBe(true);
  });

  it('orchctl pools prints the table and --json', async () => {
    const table = await orchctl(['--addr', sys.addr, 'pools']);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^POOL\s+STATE\s+HOST/);
    expect(table.out).toContain(a.id);
    expect(table.out).toMatch(/inproc:\d\/2/);
    const json = await orchctl(['--addr', sys.addr, '--json', 'pools']);
    expect(json.code).toBe(0);
    const listed = (JSON.parse(json.out) as { pools: { pool: string; state: string; classes: unknown[]; pid: number }[] }).pools;
    const ja = listed.find((p) => p.pool === a.id)!;
    expect(ja.state).toBe('running');
    expect(ja.pid).toBe(a.child.pid);
    expect(ja.classes).toEqual([{ class: 'inproc', concurrency: 2, busy: 0 }]);
  });
});

describe('DrainPool', { timeout: 180_000 }, () => {
  it('refuses an empty or unknown pool id', async () => {
    const empty = await grpcError(sys.client.drainPool(''));
    expect(empty.code).toBe(status.INVALID_ARGUMENT);
    expect(fieldOf(empty)).toBe('pool_id');
    const unknown = await grpcError(sys.client.drainPool('no-such-pool'));
    expect(unknown.code).toBe(status.NOT_FOUND);
    const cli = await orchctl(['--addr', sys.addr, 'pools', 'drain', 'no-such-pool']);
    expect(cli.code).toBe(3);
  });

  it('lets the running task finish, leaves queued tasks for another pool, and shows draining', async () => {
    const d = await sys.startPool({ classes: 'cpu_long:2' });
    await sys.client.submitTask(sleepTask('drain-running', 'cpu_long', 2_500));
    await waitFor(async () => (await sys.client.getTaskStatus('drain-running')).state === TaskState.TASK_STATE_RUNNING, { timeoutMs: 30_000 });

    const cli = await orchctl(['--addr', sys.addr, '--json', 'pools', 'drain', d.id]);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.out)).toMatchObject({ pool: d.id, draining: true, changed: true });
    expect((await sys.client.drainPool(d.id)).changed).toBe(false);
    await waitFor(async () => (await poolOf(d.id))?.state === PoolState.POOL_STATE_DRAINING, { timeoutMs: 10_000 });
    // The pool's own metrics and Health say so too.
    await waitFor(async () => /^orq_pool_draining 1$/m.test(await (await fetch(`${d.metricsUrl}/metrics`)).text()), { timeoutMs: 10_000 });
    await waitFor(async () => /1 draining/.test((await sys.client.health()).components.find((c) => c.name === 'pools')?.detail ?? ''), { timeoutMs: 10_000 });

    // Submitted after the drain: the draining pool has a free slot but takes nothing.
    await sys.client.submitTask(sleepTask('drain-queued', 'cpu_long', 10));
    const first = await waitFor(
      async () => {
        const s = await sys.client.getTaskStatus('drain-running');
        return s.state === TaskState.TASK_STATE_SUCCEEDED ? s : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(first!.workerId).toContain(d.id);
    await waitFor(async () => (await poolOf(d.id))?.busy === 0, { timeoutMs: 10_000 });
    // Still waiting: queued, or scheduled when a Worker already waiting for a task as the pool
    // paused took it and handed it straight back (no attempt used).
    expect([TaskState.TASK_STATE_QUEUED, TaskState.TASK_STATE_SCHEDULED]).toContain((await sys.client.getTaskStatus('drain-queued')).state);
    // No pool takes cpu_long now: Health says the class is stranded.
    expect((await sys.client.health()).components.find((c) => c.name === 'queue:cpu_long')?.detail).toMatch(/no pool serves this class/);

    const e = await sys.startPool({ classes: 'cpu_long:1' });
    const second = await waitFor(
      async () => {
        const s = await sys.client.getTaskStatus('drain-queued');
        return s.state === TaskState.TASK_STATE_SUCCEEDED ? s : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(second!.workerId).toContain(e.id);
    expect(second!.attemptsMade).toBe(1);
    expect((await poolOf(d.id))!.draining).toBe(true);

    // A drain with exit: the idle drained pool leaves, exit code 0, listed as stopped.
    expect((await sys.client.drainPool(d.id, true)).changed).toBe(true);
    expect(await d.exited).toBe(0);
    expect((await poolOf(d.id))?.state).toBe(PoolState.POOL_STATE_STOPPED);
    e.kill('SIGTERM');
    await e.exited;
  });
});

describe('ResumePool', { timeout: 120_000 }, () => {
  it('undoes a drain: the pool takes tasks again; a pool drained to exit is not called back', async () => {
    const f = await sys.startPool({ classes: 'cpu_long:1' });
    expect((await sys.client.drainPool(f.id)).changed).toBe(true);
    await waitFor(async () => (await poolOf(f.id))?.state === PoolState.POOL_STATE_DRAINING, { timeoutMs: 10_000 });
    await waitFor(async () => /^orq_pool_draining 1$/m.test(await (await fetch(`${f.metricsUrl}/metrics`)).text()), { timeoutMs: 10_000 });
    const cli = await orchctl(['--addr', sys.addr, '--json', 'pools', 'resume', f.id]);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.out)).toMatchObject({ pool: f.id, draining: false, changed: true });
    expect((await sys.client.resumePool(f.id)).changed).toBe(false);
    await waitFor(async () => (await poolOf(f.id))?.state === PoolState.POOL_STATE_RUNNING, { timeoutMs: 10_000 });
    await waitFor(async () => /^orq_pool_draining 0$/m.test(await (await fetch(`${f.metricsUrl}/metrics`)).text()), { timeoutMs: 10_000 });
    await sys.client.submitTask(sleepTask('after-resume', 'cpu_long', 10));
    const done = await waitFor(
      async () => {
        const st = await sys.client.getTaskStatus('after-resume');
        return st.state === TaskState.TASK_STATE_SUCCEEDED ? st : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(done!.workerId).toContain(f.id);

    // Drained to exit, with a task running so that it cannot leave yet: not resumable.
    await sys.client.submitTask(sleepTask('keeps-f', 'cpu_long', 3_000));
    await waitFor(async () => (await sys.client.getTaskStatus('keeps-f')).state === TaskState.TASK_STATE_RUNNING, { timeoutMs: 30_000 });
    await sys.client.drainPool(f.id, true);
    const refused = await grpcError(sys.client.resumePool(f.id));
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(fieldOf(refused)).toBe('pool_id');
    expect(await f.exited).toBe(0);
    expect((await sys.client.getTaskStatus('keeps-f')).state).toBe(TaskState.TASK_STATE_SUCCEEDED);
    expect((await grpcError(sys.client.resumePool(f.id))).code).toBe(status.NOT_FOUND);
  });
});

describe('ListWorkflowRuns', { timeout: 120_000 }, () => {
  const echo = (payload: Record<string, string>): TaskInput => ({ taskClass: 'inproc', payload });
  let middle = 0;

  async function runToEnd(name: string, runId: string): Promise<void> {
    await sys.client.startWorkflowRun({ name, inputs: {}, runId });
    await waitFor(async () => (await sys.client.getWorkflowRun(runId)).state !== WorkflowRunState.WORKFLOW_RUN_STATE_RUNNING, { timeoutMs: 30_000 });
  }

  async function listAll(filter: Parameters<typeof sys.client.listWorkflowRuns>[0], pageSize: number): Promise<WorkflowRunSummary[]> {
    const out: WorkflowRunSummary[] = [];
    let pageToken = '';
    do {
      const page = await sys.client.listWorkflowRuns(filter, { pageSize, pageToken });
      expect(page.runs.length).toBeLessThanOrEqual(pageSize);
      out.push(...page.runs);
      pageToken = page.nextPageToken;
    } while (pageToken);
    return out;
  }

  beforeAll(async () => {
    await sys.startPool({ classes: 'inproc:4' });
    await sys.client.createWorkflow({
      name: 'lr-a',
      steps: [
        { stepId: 'one', task: echo({ n: '1' }) },
        { stepId: 'two', dependsOn: ['one'], task: echo({ n: '2' }) },
      ],
    });
    await sys.client.createWorkflow({ name: 'lr-b', steps: [{ stepId: 'only', task: echo({ n: '1' }) }] });
    await sys.client.createWorkflow({
      name: 'lr-fail',
      steps: [{ stepId: 'bad', task: { taskClass: 'inproc', payload: { message: 'boom', retryable: 'false' }, executor: { handler: 'fail' } } }],
    });
    for (let i = 0; i < 5; i++) await runToEnd('lr-a', `lr-a-${i}`);
    middle = Date.now();
    for (let i = 0; i < 3; i++) await runToEnd('lr-b', `lr-b-${i}`);
    await runToEnd('lr-fail', 'lr-fail-0');
  });

  it('pages through every run newest first, without repeats', async () => {
    const all = await listAll({}, 3);
    const ids = all.map((r) => r.runId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.slice(0, 9)).toEqual(['lr-fail-0', 'lr-b-2', 'lr-b-1', 'lr-b-0', 'lr-a-4', 'lr-a-3', 'lr-a-2', 'lr-a-1', 'lr-a-0']);
    for (let i = 1; i < all.length; i++) expect(all[i - 1]!.startedAtMs).toBeGreaterThanOrEqual(all[i]!.startedAtMs);
    const a0 = all.find((r) => r.runId === 'lr-a-0')!;
    expect(a0).toMatchObject({ workflowName: 'lr-a', version: 1, state: WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED, steps: 2, openSteps: 0 });
    expect(a0.finishedAtMs).toBeGreaterThanOrEqual(a0.startedAtMs);
  });

  it('filters by workflow, state and start time', async () => {
    expect((await listAll({ workflowName: 'lr-b' }, 2)).map((r) => r.runId)).toEqual(['lr-b-2', 'lr-b-1', 'lr-b-0']);
    const failed = await listAll({ states: [WorkflowRunState.WORKFLOW_RUN_STATE_FAILED] }, 50);
    expect(failed.map((r) => r.runId)).toEqual(['lr-fail-0']);
    expect(failed[0]!.stopReason).not.toBe('');
    const before = await listAll({ workflowName: 'lr-a', startedUntilMs: middle }, 50);
    expect(before).toHaveLength(5);
    const after = await listAll({ startedSinceMs: middle }, 50);
    expect(after.map((r) => r.runId).sort()).toEqual(['lr-b-0', 'lr-b-1', 'lr-b-2', 'lr-fail-0']);
  });

  it('refuses bad input naming the field', async () => {
    for (const [call, field] of [
      [sys.client.listWorkflowRuns({}, { pageSize: 501 }), 'page_size'],
      [sys.client.listWorkflowRuns({}, { pageToken: 'not a token!' }), 'page_token'],
      [sys.client.listWorkflowRuns({ startedSinceMs: 10, startedUntilMs: 5 }), 'started_until_ms'],
      [sys.client.listWorkflowRuns({ workflowName: 'x'.repeat(201) }), 'workflow_name'],
      [sys.client.listWorkflowRuns({ states: [0 as WorkflowRunState] }), 'states[0]'],
    ] as const) {
      const err = await grpcError(call);
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(fieldOf(err)).toBe(field);
    }
  });

  it('drops runs whose keys expired from the index', async () => {
    await runToEnd('lr-b', 'lr-b-gone');
    expect(await sys.r.zscore(sys.keys.runIndex, 'lr-b-gone')).not.toBeNull();
    // As retention would: the run's keys expire.
    await sys.r.del(sys.keys.run('lr-b-gone'), sys.keys.runSteps('lr-b-gone'), sys.keys.runDeps('lr-b-gone'), sys.keys.runOutcomes('lr-b-gone'));
    expect((await listAll({ workflowName: 'lr-b' }, 50)).map((r) => r.runId)).not.toContain('lr-b-gone');
    expect(await sys.r.zscore(sys.keys.runIndex, 'lr-b-gone')).toBeNull();
    // And the engine's sweep prunes without anyone listing.
    await sys.r.zadd(sys.keys.runIndex, Date.now(), 'never-existed');
    await waitFor(async () => (await sys.r.zscore(sys.keys.runIndex, 'never-existed')) === null, { timeoutMs: 10_000 });
  });

  it('orchctl workflow runs filters and prints the table and --json', async () => {
    const json = await orchctl(['--addr', sys.addr, '--json', 'workflow', 'runs', '--workflow', 'lr-a', '--limit', '2']);
    expect(json.code).toBe(0);
    const page = JSON.parse(json.out) as { runs: { run: string; state: string; steps: number }[]; next_page_token: string | null };
    expect(page.runs.map((r) => r.run)).toEqual(['lr-a-4', 'lr-a-3']);
    expect(page.runs[0]).toMatchObject({ state: 'succeeded', steps: 2 });
    expect(page.next_page_token).toBeTruthy();
    const table = await orchctl(['--addr', sys.addr, 'workflow', 'runs', '--state', 'failed']);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^RUN\s+WORKFLOW/);
    expect(table.out).toContain('lr-fail-0');
    expect(table.out).not.toContain('lr-a-');
    const bad = await orchctl(['--addr', sys.addr, 'workflow', 'runs', '--state', 'sleeping']);
    expect(bad.code).toBe(2);
  });
});
