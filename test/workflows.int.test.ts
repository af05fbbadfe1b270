/**
 * Workflows over gRPC against a real Redis and a real pool process: result passing along a
 * diamond, fan-out and fan-in, both failure policies, retries and their backoff, a step whose
 * task id is taken, client tasks refused a workflow id, cancel (of running and of queued steps),
 * versions, idempotent starts, the status stream (joined mid-run, and a watcher whose unread
 * events were trimmed), and every invalid definition rejected with nothing stored.
 */
import { status } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FailurePolicy,
  StepState,
  TaskState,
  toPbTask,
  WorkflowRunState,
  type StepRun,
  type TaskInput,
  type WorkflowInput,
  type WorkflowStatusUpdate,
} from '../src/client/orchestrator-client.js';
import type { CreateWorkflowRequest } from '../src/gen/orchestrator/v1/orchestrator.js';
import { createReadServices } from '../src/read-services.js';
import { WorkflowStatusReader } from '../src/workflows/workflow-status.js';
import { fieldOf, grpcError } from './helpers/grpc.js';
import { startSystem, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';
import { taskReadableTempDir } from './helpers/temp-dir.js';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startSystem();
  await sys.startPool({ classes: 'inproc:8,cpu_short' });
});
afterAll(async () => sys?.stop());

const echo = (payload: Record<string, string>): TaskInput => ({ taskClass: 'inproc', payload });
const handler = (name: string, payload: Record<string, string>, extra: Partial<TaskInput> = {}): TaskInput => ({
  taskClass: 'inproc',
  payload,
  executor: { handler: name },
  ...extra,
});

function step(run: { steps: StepRun[] }, id: string): StepRun {
  const s = run.steps.find((x) => x.stepId === id);
  if (!s) throw new Error(`no step ${id}`);
  return s;
}

async function collect(runId: string): Promise<WorkflowStatusUpdate[]> {
  const out: WorkflowStatusUpdate[] = [];
  for await (const u of sys.client.streamWorkflowStatus(runId)) out.push(u);
  return out;
}

/** An events-stream entry's fields by name. */
function fieldMap(f: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < f.length; i += 2) out[f[i]!] = f[i + 1]!;
  return out;
}

/** Every events-stream entry of one type for one task. */
async function eventsOf(type: string, taskId: string): Promise<string[][]> {
  const all = await sys.r.xrange(sys.keys.events, '-', '+');
  return all.map(([, f]) => f).filter((f) => f[1] === type && f[3] === taskId);
}

describe('a diamond DAG', () => {
  const diamond: WorkflowInput = {
    name: 'diamond',
    steps: [
      { stepId: 'a', task: echo({ x: '${inputs.x}', n: '${run_id}' }) },
      { stepId: 'b', dependsOn: ['a'], task: echo({ b: 'B-${steps.a.result.x}' }) },
      { stepId: 'c', dependsOn: ['a'], task: echo({ c: 'C-${steps.a.result.x}' }) },
      { stepId: 'd', dependsOn: ['b', 'c'], task: echo({ joined: '${steps.b.result.b}+${steps.c.result.c}', literal: '$${not.a.ref}' }) },
    ],
  };

  it('passes results downstream and runs each step once, after its dependencies', async () => {
    const created = await sys.client.createWorkflow(diamond);
    expect(created.version).toBeGreaterThanOrEqual(1);
    const { runId, created: isNew } = await sys.client.startWorkflowRun({ name: 'diamond', inputs: { x: '7' }, runId: 'diamond-1' });
    expect(isNew).toBe(true);
    const updates = await collect(runId);
    const run = await sys.client.getWorkflowRun(runId);
    expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED);
    expect(JSON.parse(step(run, 'a').resultJson)).toEqual({ x: '7', n: 'diamond-1' });
    expect(JSON.parse(step(run, 'd').resultJson)).toEqual({ joined: 'B-7+C-7', literal: '${not.a.ref}' });
    expect(step(run, 'd').dependsOn.sort()).toEqual(['b', 'c']);
    expect(run.finishedAtMs).toBeGreaterThanOrEqual(run.startedAtMs);

    // Order: a step starts only after all it depends on succeeded.
    const at = (id: string, s: StepState) => updates.findIndex((u) => u.stepId === id && u.stepState === s);
    for (const [down, up] of [
      ['b', 'a'],
      ['c', 'a'],
      ['d', 'b'],
      ['d', 'c'],
    ] as const) {
      expect(at(down, StepState.STEP_STATE_RUNNING)).toBeGreaterThan(at(up, StepState.STEP_STATE_SUCCEEDED));
    }
    expect(updates.at(-1)).toMatchObject({ stepId: '', runState: WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED });
    for (const id of ['a', 'b', 'c', 'd']) expect(await eventsOf('started', `${runId}.${id}`)).toHaveLength(1);
  });

  it('gives a late subscriber where the run stands, then closes when it has ended', async () => {
    const updates = await collect('diamond-1');
    expect(updates.every((u) => u.snapshot)).toBe(true);
    expect(updates[0]).toMatchObject({ stepId: '', runState: WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED });
    expect(updates.filter((u) => u.stepId).map((u) => [u.stepId, u.stepState])).toEqual(['a', 'b', 'c', 'd'].map((s) => [s, StepState.STEP_STATE_SUCCEEDED]));
  });

  it('puts workflow events on the events stream, filterable by workflow', async () => {
    const seen: string[] = [];
    const stream = sys.client.streamEvents({ workflowId: 'diamond-1', cursor: '0' });
    for await (const e of stream) {
      seen.push(`${e.type}:${e.stepId || e.taskId}:${e.state}`);
      if (e.type === 'workflow_run' && e.state === 'succeeded') break;
    }
    expect(seen[0]).toBe('workflow_run::running');
    expect(seen).toContain('workflow_step:d:succeeded');
    expect(seen).toContain('started:diamond-1.a:');
  });

  it('is idempotent on run_id, and ALREADY_EXISTS with other inputs', async () => {
    const again = await sys.client.startWorkflowRun({ name: 'diamond', inputs: { x: '7' }, runId: 'diamond-1' });
    expect(again).toMatchObject({ runId: 'diamond-1', created: false, state: WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED });
    const err = await grpcError(sys.client.startWorkflowRun({ name: 'diamond', inputs: { x: '8' }, runId: 'diamond-1' }));
    expect(err.code).toBe(status.ALREADY_EXISTS);
    expect(fieldOf(err)).toBe('run_id');
  });
});

describe('fan-out and fan-in', () => {
  it('runs 200 steps after one and one after all 200', async () => {
    const width = 200;
    const mids = Array.from({ length: width }, (_, i) => `m${i}`);
    await sys.client.createWorkflow({
      name: 'wide',
      steps: [
        { stepId: 'root', task: echo({ seed: '${inputs.seed}' }) },
        ...mids.map((id, i) => ({ stepId: id, dependsOn: ['root'], task: echo({ i: String(i), seed: '${steps.root.result.seed}' }) })),
        { stepId: 'sink', dependsOn: mids, task: echo({ first: '${steps.m0.result.i}', last: `\${steps.m${width - 1}.result.i}` }) },
      ],
    });
    const { runId } = await sys.client.startWorkflowRun({ name: 'wide', inputs: { seed: 's' } });
    const run = await sys.client.waitForRun(runId, { timeoutMs: 60_000 });
    expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED);
    expect(run.steps.filter((s) => s.state === StepState.STEP_STATE_SUCCEEDED)).toHaveLength(width + 2);
    expect(JSON.parse(step(run, 'm150').resultJson)).toEqual({ i: '150', seed: 's' });
    expect(JSON.parse(step(run, 'sink').resultJson)).toEqual({ first: '0', last: String(width - 1) });
    const submitted = (await sys.r.xrange(sys.keys.events, '-', '+')).filter(([, f]) => f[1] === 'submitted' && f[3]?.startsWith(`${runId}.`));
    expect(submitted).toHaveLength(width + 2);
  });
});

describe('failure policies', () => {
  it('fail_fast: the first failure skips pending steps and cancels running ones', async () => {
    await sys.client.createWorkflow({
      name: 'ff',
      failurePolicy: 'fail_fast',
      steps: [
        { stepId: 'ok', task: echo({ a: '1' }) },
        { stepId: 'slow', task: handler('sleep', { ms: '60000' }) },
        { stepId: 'bad', dependsOn: ['ok'], task: handler('fail', { message: 'boom', retryable: 'false' }) },
        { stepId: 'after', dependsOn: ['bad'], task: echo({ a: '2' }) },
        { stepId: 'later', dependsOn: ['slow'], task: echo({ a: '3' }) },
      ],
    });
    const { runId } = await sys.client.startWorkflowRun({ name: 'ff' });
    const run = await sys.client.waitForRun(runId, { timeoutMs: 30_000 });
    expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_FAILED);
    expect(run.stopReason).toContain('bad');
    expect(step(run, 'ok').state).toBe(StepState.STEP_STATE_SUCCEEDED);
    expect(step(run, 'bad')).toMatchObject({ state: StepState.STEP_STATE_FAILED, error: expect.stringContaining('boom') });
    expect(step(run, 'slow').state).toBe(StepState.STEP_STATE_CANCELLED);
    expect(step(run, 'after').state).toBe(StepState.STEP_STATE_SKIPPED);
    expect(step(run, 'later').state).toBe(StepState.STEP_STATE_SKIPPED);
    expect((await sys.client.getTaskStatus(`${runId}.slow`)).state).toBe(TaskState.TASK_STATE_CANCELLED);
  });

  it('continue: branches that do not depend on the failure run to the end', async () => {
    await sys.client.createWorkflow({
      name: 'cont',
      failurePolicy: 'continue',
      steps: [
        { stepId: 'bad', task: handler('fail', { retryable: 'false' }) },
        { stepId: 'after', dependsOn: ['bad'], task: echo({ a: '1' }) },
        { stepId: 'after2', dependsOn: ['after'], task: echo({ a: '1' }) },
        { stepId: 'side', task: handler('sleep', { ms: '300' }) },
        { stepId: 'side2', dependsOn: ['side'], task: echo({ slept: '${steps.side.result.sleptMs}' }) },
      ],
    });
    const { runId } = await sys.client.startWorkflowRun({ name: 'cont' });
    const run = await sys.client.waitForRun(runId, { timeoutMs: 30_000 });
    expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_FAILED);
    expect(step(run, 'bad').state).toBe(StepState.STEP_STATE_FAILED);
    expect(step(run, 'after').state).toBe(StepState.STEP_STATE_SKIPPED);
    expect(step(run, 'after2').state).toBe(StepState.STEP_STATE_SKIPPED);
    expect(JSON.parse(step(run, 'side2').resultJson)).toEqual({ slept: '300' });
  });

  it('retries a step by its own attempts and backoff before its dependents run', async () => {
    await sys.client.createWorkflow({
      name: 'flaky',
      steps: [
        { stepId: 'flaky', task: handler('fail', { succeed_on_attempt: '2' }, { maxAttempts: 3, backoff: { type: 'fixed', delayMs: 400 } }) },
        { stepId: 'then', dependsOn: ['flaky'], task: echo({ got: '${steps.flaky.result.attempt}' }) },
      ],
    });
    const { runId } = await sys.client.startWorkflowRun({ name: 'flaky' });
    const updates = await collect(runId);
    const run = await sys.client.getWorkflowRun(runId);
    expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED);
    expect(step(run, 'flaky').attempt).toBe(2);
    expect(JSON.parse(step(run, 'then').resultJson)).toEqual({ got: '2' });
    const started = (await eventsOf('started', `${runId}.flaky`)).map(fieldMap);
    const retrying = (await eventsOf('retrying', `${runId}.flaky`)).map(fieldMap);
    expect(started.map((e) => e.attempt)).toEqual(['1', '2']);
    expect(retrying).toHaveLength(1);
    expect(retrying[0]).toMatchObject({ attempt: '1', detail: expect.stringContaining('(retry in 400 ms)') });
    // The backoff was waited out: attempt 2 started no sooner than 400 ms after attempt 1 failed
    // (both times from the events, written by the pool as they happened).
    expect(Number(started[1]!.at) - Number(retrying[0]!.at)).toBeGreaterThanOrEqual(400);
    // The stream began just after the start: attempt 1 may be in its snapshot or already over.
    const flaky = updates.filter((u) => u.stepId === 'flaky').map((u) => [u.stepState, u.attempt]);
    expect(flaky).toContainEqual([StepState.STEP_STATE_RUNNING, 2]);
    expect(flaky.at(-1)).toEqual([StepState.STEP_STATE_SUCCEEDED, 2]);
  });

  it("resolves references in a command step's argv and env", async () => {
    await sys.client.createWorkflow({
      name: 'cmd',
      steps: [
        { stepId: 'a', task: echo({ x: '${inputs.x}' }) },
        {
          stepId: 'sh',
          dependsOn: ['a'],
          task: {
            taskClass: 'cpu_short',
            payload: { p: '1' },
            executor: { command: { argv: ['sh', '-c', 'echo "$X-${steps.a.result.x}"'], env: { X: '${run_id}' } } },
          },
        },
      ],
    });
    const { runId } = await sys.client.startWorkflowRun({ name: 'cmd', inputs: { x: 'from-a' }, runId: 'cmd-1' });
    const run = await sys.client.waitForRun(runId, { timeoutMs: 20_000 });
    expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED);
    expect(JSON.parse(step(run, 'sh').resultJson)).toMatchObject({ exitCode: 0, stdout: 'cmd-1-from-a\n' });
  });

  it('fails a step whose reference does not resolve, naming it', async () => {
    await sys.client.createWorkflow({ name: 'noinput', steps: [{ stepId: 's', task: echo({ v: '${inputs.nope}' }) }] });
    const { runId } = await sys.client.startWorkflowRun({ name: 'noinput', inputs: { other: '1' } });
    const run = await sys.client.waitForRun(runId, { timeoutMs: 20_000 });
    expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_FAILED);
    expect(step(run, 's').error).toMatch(/payload\.v: \$\{inputs\.nope\}: the run has no input "nope"/);
    await expect(sys.client.getTaskStatus(`${runId}.s`)).rejects.toMatchObject({ code: status.NOT_FOUND });
  });
});

describe('a step whose task id is taken by another task', () => {
  it('fails that step naming the conflict, and the rest of the run goes on', async () => {
    await sys.client.submitTask({ taskId: 'taken-1.b', taskClass: 'inproc', payload: { mine: 'yes' } });
    await sys.client.createWorkflow({
      name: 'taken',
      failurePolicy: 'continue',
      steps: [
        { stepId: 'a', task: echo({ a: '1' }) },
        // b and c are released and submitted together: c must not be held up by b's conflict.
        { stepId: 'b', dependsOn: ['a'], task: echo({ b: '1' }) },
        { stepId: 'c', dependsOn: ['a'], task: echo({ c: '1' }) },
        { stepId: 'd', dependsOn: ['b'], task: echo({ d: '1' }) },
      ],
    });
    const { runId } = await sys.client.startWorkflowRun({ name: 'taken', runId: 'taken-1' });
    const run = await sys.client.waitForRun(runId, { timeoutMs: 20_000 });
    expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_FAILED);
    expect(step(run, 'b')).toMatchObject({
      state: StepState.STEP_STATE_FAILED,
      error: 'step b could not start: its task id "taken-1.b" is taken by another task with different content',
    });
    expect(step(run, 'c').state).toBe(StepState.STEP_STATE_SUCCEEDED);
    expect(step(run, 'd').state).toBe(StepState.STEP_STATE_SKIPPED);
    expect(await sys.r.zscore(sys.keys.releasing, `${runId}\tb`)).toBeNull();
    // The task that held the id is left alone.
    expect(JSON.parse((await sys.client.waitForResult('taken-1.b', { timeoutMs: 20_000 })).resultJson)).toEqual({ mine: 'yes' });
  });
});

describe('tasks from clients', () => {
  it("cannot carry a workflow id, so nothing but a run's own step tasks feeds the run", async () => {
    await sys.client.createWorkflow({
      name: 'guarded',
      steps: [
        { stepId: 'first', task: handler('sleep', { ms: '60000' }) },
        { stepId: 'next', dependsOn: ['first'], task: echo({ real: 'yes' }) },
      ],
    });
    const { runId } = await sys.client.startWorkflowRun({ name: 'guarded', runId: 'guarded-1' });
    await waitFor(async () => step(await sys.client.getWorkflowRun(runId), 'first').state === StepState.STEP_STATE_RUNNING, {
      message: 'step first never ran',
    });

    // A task named as the pending step and carrying the run's id would land its outcome there.
    const fake = (extra: Partial<TaskInput> = {}): TaskInput => ({
      taskId: `${runId}.next`,
      taskClass: 'inproc',
      payload: { real: 'no' },
      workflowId: runId,
      ...extra,
    });
    const one = await grpcError(sys.client.submitTask(fake()));
    expect([one.code, fieldOf(one)]).toEqual([status.INVALID_ARGUMENT, 'task.workflow_id']);
    expect(one.details).toMatch(/must be empty: the workflow engine sets it/);
    const batch = await grpcError(sys.client.submitTasks([echo({ a: '1' }), fake({ taskId: 'guarded-other' })]));
    expect([batch.code, fieldOf(batch)]).toEqual([status.INVALID_ARGUMENT, 'tasks[1].workflow_id']);
    const schedule = await grpcError(sys.client.createSchedule({ scheduleId: 'guarded', everyMs: 60_000, task: fake({ taskId: undefined }) }));
    expect([schedule.code, fieldOf(schedule)]).toEqual([status.INVALID_ARGUMENT, 'schedule.task.workflow_id']);

    expect((await grpcError(sys.client.getTaskStatus(`${runId}.next`))).code).toBe(status.NOT_FOUND);
    expect((await grpcError(sys.client.getTaskStatus('guarded-other'))).code).toBe(status.NOT_FOUND);
    expect(step(await sys.client.getWorkflowRun(runId), 'next').state).toBe(StepState.STEP_STATE_PENDING);
    await sys.client.cancelWorkflowRun(runId);
    expect((await sys.client.waitForRun(runId, { timeoutMs: 20_000 })).state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_CANCELLED);
  });
});

describe('CancelWorkflowRun', () => {
  it('cancels running and pending steps; the run ends cancelled', async () => {
    await sys.client.createWorkflow({
      name: 'tocancel',
      steps: [
        { stepId: 'long', task: handler('sleep', { ms: '60000' }) },
        { stepId: 'next', dependsOn: ['long'], task: echo({ a: '1' }) },
      ],
    });
    const { runId } = await sys.client.startWorkflowRun({ name: 'tocancel' });
    await waitFor(async () => step(await sys.client.getWorkflowRun(runId), 'long').state === StepState.STEP_STATE_RUNNING, { message: 'step long never ran' });
    const res = await sys.client.cancelWorkflowRun(runId, 'no longer needed');
    expect([WorkflowRunState.WORKFLOW_RUN_STATE_RUNNING, WorkflowRunState.WORKFLOW_RUN_STATE_CANCELLED]).toContain(res.state);
    const run = await sys.client.waitForRun(runId, { timeoutMs: 20_000 });
    expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_CANCELLED);
    expect(run.stopReason).toContain('no longer needed');
    expect(step(run, 'long').state).toBe(StepState.STEP_STATE_CANCELLED);
    expect(step(run, 'next').state).toBe(StepState.STEP_STATE_CANCELLED);
    expect(await eventsOf('started', `${runId}.next`)).toHaveLength(0);
    const again = await sys.client.cancelWorkflowRun(runId);
    expect(again.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_CANCELLED);
  });

  it('cancels steps still waiting in their queue: they end cancelled without running', async () => {
    const waiting = (n: string): TaskInput => ({ taskClass: 'cpu_short', payload: { n } });
    await sys.client.createWorkflow({
      name: 'waiting',
      steps: [
        { stepId: 'w1', task: waiting('1') },
        { stepId: 'w2', task: waiting('2') },
        { stepId: 'after', dependsOn: ['w1', 'w2'], task: echo({ a: '1' }) },
      ],
    });
    const runId = 'waiting-1';
    const stepTasks = [`${runId}.w1`, `${runId}.w2`];
    // The pool serves cpu_short but takes nothing from a paused queue: the steps' tasks wait.
    await sys.client.pauseClass('cpu_short');
    try {
      await sys.client.startWorkflowRun({ name: 'waiting', runId });
      await waitFor(
        async () => {
          const run = await sys.client.getWorkflowRun(runId);
          return step(run, 'w1').state === StepState.STEP_STATE_QUEUED && step(run, 'w2').state === StepState.STEP_STATE_QUEUED;
        },
        { message: 'the steps were never queued' },
      );
      for (const t of stepTasks) expect((await sys.client.getTaskStatus(t)).state).toBe(TaskState.TASK_STATE_QUEUED);

      await sys.client.cancelWorkflowRun(runId, 'not needed');
      const run = await sys.client.waitForRun(runId, { timeoutMs: 20_000 });
      expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_CANCELLED);
      expect(run.steps.map((x) => [x.stepId, x.state])).toEqual([
        ['w1', StepState.STEP_STATE_CANCELLED],
        ['w2', StepState.STEP_STATE_CANCELLED],
        ['after', StepState.STEP_STATE_CANCELLED],
      ]);
      for (const t of stepTasks) expect((await sys.client.getTaskStatus(t)).state).toBe(TaskState.TASK_STATE_CANCELLED);
    } finally {
      await sys.client.resumeClass('cpu_short');
    }
    // Once the queue runs again, a task submitted after the steps runs, and they still do not.
    const probe = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { probe: '1' } });
    await sys.client.waitForResult(probe.taskId, { timeoutMs: 20_000 });
    for (const t of stepTasks) expect(await eventsOf('started', t)).toEqual([]);
  });

  it('answers NOT_FOUND for an unknown run', async () => {
    expect((await grpcError(sys.client.cancelWorkflowRun('no-such-run'))).code).toBe(status.NOT_FOUND);
    expect((await grpcError(sys.client.getWorkflowRun('no-such-run'))).code).toBe(status.NOT_FOUND);
    expect((await grpcError(collect('no-such-run'))).code).toBe(status.NOT_FOUND);
  });
});

describe('versions', () => {
  it('creating a name again makes a new version; a run keeps the version it started with', async () => {
    const v1 = await sys.client.createWorkflow({ name: 'versioned', steps: [{ stepId: 's', task: echo({ v: 'one' }) }] });
    const v2 = await sys.client.createWorkflow({ name: 'versioned', steps: [{ stepId: 's', task: echo({ v: 'two' }) }] });
    expect(v2.version).toBe(v1.version + 1);
    const old = await sys.client.startWorkflowRun({ name: 'versioned', version: v1.version });
    const latest = await sys.client.startWorkflowRun({ name: 'versioned' });
    expect(latest.version).toBe(v2.version);
    const [a, b] = await Promise.all([sys.client.waitForRun(old.runId), sys.client.waitForRun(latest.runId)]);
    expect(a.version).toBe(v1.version);
    expect(JSON.parse(step(a, 's').resultJson)).toEqual({ v: 'one' });
    expect(JSON.parse(step(b, 's').resultJson)).toEqual({ v: 'two' });
    const err = await grpcError(sys.client.startWorkflowRun({ name: 'versioned', version: 99 }));
    expect(err.code).toBe(status.NOT_FOUND);
  });
});

/** CreateWorkflow through the generated stub, for what the client cannot send (an enum value it does not know). */
function createRaw(w: WorkflowInput, over: Partial<CreateWorkflowRequest>): Promise<unknown> {
  const req: CreateWorkflowRequest = {
    name: w.name,
    description: '',
    failurePolicy: FailurePolicy.FAILURE_POLICY_UNSPECIFIED,
    steps: w.steps.map((s) => ({ stepId: s.stepId, task: toPbTask(s.task), dependsOn: s.dependsOn ?? [] })),
    ...over,
  };
  return new Promise((resolve, reject) => sys.client.raw.createWorkflow(req, (err, res) => (err ? reject(err) : resolve(res))));
}

describe('invalid definitions', () => {
  const ok = echo({ a: '1' });
  const cases: [string, WorkflowInput, string, RegExp, Partial<CreateWorkflowRequest>?][] = [
    ['an empty workflow', { name: 'bad-empty', steps: [] }, 'steps', /at least one step/],
    ['a bad name', { name: 'bad name!', steps: [{ stepId: 'a', task: ok }] }, 'name', /must be/],
    [
      'a cycle',
      {
        name: 'bad-cycle',
        steps: [
          { stepId: 'a', task: ok },
          { stepId: 'b', task: ok, dependsOn: ['a', 'd'] },
          { stepId: 'c', task: ok, dependsOn: ['b'] },
          { stepId: 'd', task: ok, dependsOn: ['c'] },
        ],
      },
      'steps[1].depends_on',
      /cycle: b -> d -> c -> b|cycle: .*b/,
    ],
    ['a self-dependency', { name: 'bad-self', steps: [{ stepId: 'a', task: ok, dependsOn: ['a'] }] }, 'steps[0].depends_on', /cycle: a -> a/],
    ['an unknown dependency', { name: 'bad-unknown', steps: [{ stepId: 'a', task: ok, dependsOn: ['zz'] }] }, 'steps[0].depends_on', /unknown step "zz"/],
    [
      'a duplicate step id',
      {
        name: 'bad-dup',
        steps: [
          { stepId: 'a', task: ok },
          { stepId: 'a', task: ok },
        ],
      },
      'steps[1].step_id',
      /appears twice/,
    ],
    ['a bad step id', { name: 'bad-stepid', steps: [{ stepId: 'a.b', task: ok }] }, 'steps[0].step_id', /must be/],
    ['too many steps', { name: 'bad-big', steps: Array.from({ length: 501 }, (_, i) => ({ stepId: `s${i}`, task: ok })) }, 'steps', /over the limit of 500/],
    [
      'an unknown class',
      { name: 'bad-class', steps: [{ stepId: 'a', task: { taskClass: 'nope', payload: { a: '1' } } }] },
      'steps[0].task.task_class',
      /unknown class/,
    ],
    [
      'an empty payload',
      { name: 'bad-payload', steps: [{ stepId: 'a', task: { taskClass: 'inproc', payload: {} } }] },
      'steps[0].task.payload',
      /must not be empty/,
    ],
    ['a task id on a step', { name: 'bad-taskid', steps: [{ stepId: 'a', task: { ...ok, taskId: 'x' } }] }, 'steps[0].task.task_id', /must be empty/],
    [
      'a reference to a step that is not upstream',
      {
        name: 'bad-ref',
        steps: [
          { stepId: 'a', task: ok },
          { stepId: 'b', task: echo({ v: '${steps.a.result}' }) },
        ],
      },
      'steps[1].task.payload.v',
      /not upstream of it/,
    ],
    [
      'an unknown failure policy',
      { name: 'bad-policy', steps: [{ stepId: 'a', task: ok }] },
      'failure_policy',
      /unknown failure policy 7/,
      { failurePolicy: 7 as FailurePolicy },
    ],
    ['a malformed reference', { name: 'bad-syntax', steps: [{ stepId: 'a', task: echo({ v: '${inputs.x' }) }] }, 'steps[0].task.payload.v', /unterminated/],
    [
      'an unknown kind of reference',
      { name: 'bad-kind', steps: [{ stepId: 'a', task: echo({ v: '${env.HOME}' }) }] },
      'steps[0].task.payload.v',
      /not a reference/,
    ],
  ];

  it.each(cases)('rejects %s with INVALID_ARGUMENT naming the field, storing nothing', async (_what, w, field, message, raw) => {
    const err = await grpcError(raw ? createRaw(w, raw) : sys.client.createWorkflow(w));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(fieldOf(err)).toBe(field);
    expect(err.details).toMatch(message);
    expect(await sys.r.exists(sys.keys.workflow(w.name))).toBe(0);
    expect(await sys.r.zscore(sys.keys.workflows, w.name)).toBeNull();
  });

  it('rejects a bad run id and an unknown workflow at start', async () => {
    const bad = await grpcError(sys.client.startWorkflowRun({ name: 'diamond', runId: 'has space' }));
    expect([bad.code, fieldOf(bad)]).toEqual([status.INVALID_ARGUMENT, 'run_id']);
    const unknown = await grpcError(sys.client.startWorkflowRun({ name: 'never-created' }));
    expect([unknown.code, fieldOf(unknown)]).toEqual([status.NOT_FOUND, 'name']);
    const noName = await grpcError(sys.client.startWorkflowRun({ name: '' }));
    expect([noName.code, fieldOf(noName)]).toEqual([status.INVALID_ARGUMENT, 'name']);
  });
});

// Last in the file: its second test trims the events stream that earlier tests read.
describe('StreamWorkflowStatus', () => {
  /** A cpu_short step that runs until `gate` exists: the test decides when it ends. */
  const gated = (gate: string): TaskInput => ({
    taskClass: 'cpu_short',
    payload: { p: '1' },
    executor: { command: { argv: ['sh', '-c', 'while [ ! -e "$GATE" ]; do sleep 0.05; done; echo opened'], env: { GATE: gate } } },
  });

  /** The next `n` updates of a stream, or everything until it closes (n = Infinity); fails on a stream still open after 20 s. */
  async function next<T>(it: AsyncIterator<T>, n: number, cancel: () => void): Promise<T[]> {
    const out: T[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      cancel();
    }, 20_000);
    try {
      while (out.length < n) {
        const r = await it.next();
        if (r.done) break;
        out.push(r.value);
      }
    } finally {
      clearTimeout(timer);
    }
    if (timedOut) throw new Error(`the stream was still open after 20 s, with ${out.length} updates read: ${JSON.stringify(out)}`);
    return out;
  }

  it('gives a subscriber joining mid-run where the run stands, then the rest, then closes', async () => {
    const gate = join(taskReadableTempDir('orq-gate-'), 'open');
    await sys.client.createWorkflow({
      name: 'midrun',
      steps: [
        { stepId: 'a', task: echo({ a: '1' }) },
        { stepId: 'side', dependsOn: ['a'], task: echo({ side: '1' }) },
        { stepId: 'b', dependsOn: ['a'], task: gated(gate) },
        { stepId: 'c', dependsOn: ['b'], task: echo({ c: '${steps.b.result.stdout}' }) },
      ],
    });
    const { runId } = await sys.client.startWorkflowRun({ name: 'midrun', runId: 'midrun-1' });
    await waitFor(
      async () => {
        const run = await sys.client.getWorkflowRun(runId);
        return step(run, 'side').state === StepState.STEP_STATE_SUCCEEDED && step(run, 'b').state === StepState.STEP_STATE_RUNNING;
      },
      { message: 'the run never got to b running with a and side done' },
    );

    const stream = sys.client.streamWorkflowStatus(runId);
    const it = stream[Symbol.asyncIterator]();
    const snapshot = await next(it, 5, () => stream.cancel());
    expect(snapshot.every((u) => u.snapshot)).toBe(true);
    expect(snapshot[0]).toMatchObject({ stepId: '', runState: WorkflowRunState.WORKFLOW_RUN_STATE_RUNNING });
    expect(snapshot.slice(1).map((u) => [u.stepId, u.stepState])).toEqual([
      ['a', StepState.STEP_STATE_SUCCEEDED],
      ['side', StepState.STEP_STATE_SUCCEEDED],
      ['b', StepState.STEP_STATE_RUNNING],
      ['c', StepState.STEP_STATE_PENDING],
    ]);
    expect(JSON.parse(snapshot[1]!.resultJson)).toEqual({ a: '1' });
    // A run-only watcher (run_only, as waitForRun asks) beside it: the run's state and nothing of its steps.
    const runOnly = sys.client.streamWorkflowStatus(runId, { runOnly: true });
    const runIt = runOnly[Symbol.asyncIterator]();
    const runSnapshot = await next(runIt, 1, () => runOnly.cancel());
    expect(runSnapshot.map((u) => [u.stepId, u.runState, u.snapshot])).toEqual([['', WorkflowRunState.WORKFLOW_RUN_STATE_RUNNING, true]]);

    writeFileSync(gate, '');
    const runRest = await next(runIt, Infinity, () => runOnly.cancel());
    expect(runRest.map((u) => [u.stepId, u.runState, u.snapshot])).toEqual([['', WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED, false]]);
    const rest = await next(it, Infinity, () => stream.cancel());
    expect(rest.every((u) => !u.snapshot)).toBe(true);
    // Nothing again about the steps that had ended; b ends, then c runs, then the run ends.
    expect(rest.filter((u) => u.stepId === 'a' || u.stepId === 'side')).toEqual([]);
    const states = rest.map((u) => [u.stepId, u.stepState || u.runState]);
    const at = (id: string, s: StepState) => states.findIndex(([i, x]) => i === id && x === s);
    expect(at('b', StepState.STEP_STATE_SUCCEEDED)).toBeGreaterThanOrEqual(0);
    expect(at('c', StepState.STEP_STATE_RUNNING)).toBeGreaterThan(at('b', StepState.STEP_STATE_SUCCEEDED));
    expect(at('c', StepState.STEP_STATE_SUCCEEDED)).toBeGreaterThan(at('c', StepState.STEP_STATE_RUNNING));
    expect(JSON.parse(rest[at('c', StepState.STEP_STATE_SUCCEEDED)]!.resultJson)).toEqual({ c: 'opened\n' });
    expect(rest.at(-1)).toMatchObject({ stepId: '', runState: WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED });
  });

  it('ends for a watcher held back while the events it had not read were trimmed away', async () => {
    // The reader behind StreamWorkflowStatus, pulled by hand: a generator not pulled is a watcher
    // whose client reads slowly (gRPC backpressure stops it).
    const bullRedis = new Redis(sys.redis.url, { maxRetriesPerRequest: null });
    const services = createReadServices({ config: sys.config, redisUrl: sys.redis.url, redis: sys.r, bullRedis });
    const reader = new WorkflowStatusReader({
      redis: sys.r,
      redisUrl: sys.redis.url,
      keys: sys.keys,
      store: services.store,
      status: services.status,
      classes: sys.config.classes.keys(),
      recheckMs: 200,
    });
    const ac = new AbortController();
    try {
      const gate = join(taskReadableTempDir('orq-gate-'), 'open');
      await sys.client.createWorkflow({
        name: 'trimmed',
        steps: [
          { stepId: 'a', task: gated(gate) },
          { stepId: 'b', dependsOn: ['a'], task: echo({ b: '1' }) },
        ],
      });
      const { runId } = await sys.client.startWorkflowRun({ name: 'trimmed', runId: 'trimmed-1' });
      await waitFor(async () => step(await sys.client.getWorkflowRun(runId), 'a').state === StepState.STEP_STATE_RUNNING, { message: 'step a never ran' });
      let overflow: Error | undefined;
      const watch = reader.watch(runId, { signal: ac.signal, fail: (err) => (overflow = err) });
      const snapshot = (await next(watch, 3, () => ac.abort())).map((u) => u.item);
      const runOnly = reader.watch(runId, { signal: ac.signal, fail: (err) => (overflow = err) }, { runOnly: true });
      expect((await next(runOnly, 1, () => ac.abort())).map((u) => [u.item.stepId, u.item.runState, u.item.snapshot])).toEqual([['', 'running', true]]);
      expect(snapshot.map((u) => [u.stepId, u.stepState ?? u.runState])).toEqual([
        ['', 'running'],
        ['a', 'running'],
        ['b', 'pending'],
      ]);

      // The run ends while the watcher reads nothing, and the stream is trimmed past all of it
      // (as MAXLEN does on a busy stream): the run's end is not there to be read.
      writeFileSync(gate, '');
      await waitFor(async () => (await sys.r.hget(sys.keys.run(runId), 'state')) === 'succeeded', { message: 'the run never ended' });
      await sys.r.xtrim(sys.keys.events, 'MAXLEN', 0);

      const rest = (await next(watch, Infinity, () => ac.abort())).map((u) => u.item);
      expect(rest.map((u) => [u.stepId, u.stepState ?? u.runState, u.snapshot])).toEqual([
        ['a', 'succeeded', false],
        ['b', 'succeeded', false],
        ['', 'succeeded', false],
      ]);
      expect(JSON.parse(rest[1]!.resultJson)).toEqual({ b: '1' });
      // The run-only watcher finds the run's end by reading the run again, as the other one.
      expect((await next(runOnly, Infinity, () => ac.abort())).map((u) => [u.item.stepId, u.item.runState, u.item.snapshot])).toEqual([
        ['', 'succeeded', false],
      ]);
      expect(overflow).toBeUndefined();
    } finally {
      ac.abort();
      await reader.close();
      await services.queues.close();
      bullRedis.disconnect();
    }
  });
});
