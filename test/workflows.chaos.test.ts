/**
 * Workflow runs under concurrency and crashes: several orchestrator processes driving the same
 * runs, orchestrators killed with SIGKILL mid-run then restarted, and one that applied a failure
 * but died before cancelling the run's running steps, a step outcome that fails to apply every
 * time, and a run cancelled while its steps' tasks are being submitted. Run state lives in Redis;
 * what a killed process left unfinished is taken over after `workflows.recoverAfterMs` (1.5 s in
 * the test config).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StepState, TaskState, WorkflowRunState, type OrchestratorClient, type TaskInput, type WorkflowInput } from '../src/client/orchestrator-client.js';
import { parseResult, type TaskResultRecord } from '../src/store/codecs/feed-format.js';
import { createLogger } from '../src/logging/logger.js';
import { Redis } from 'ioredis';
import { TaskCanceller } from '../src/tasks/task-canceller.js';
import { TaskSubmitter } from '../src/tasks/submitter.js';
import { TaskQueues } from '../src/tasks/task-queues.js';
import { TaskStatusReader } from '../src/tasks/task-status.js';
import { ENGINE_GROUP, WorkflowEngine } from '../src/workflows/workflow-engine.js';
import { WorkflowRuns, type InboxEntry, type StepFinished, type WorkflowRunsOptions } from '../src/workflows/workflow-runs.js';
import { WorkflowStore } from '../src/workflows/workflow-store.js';
import { startBareSystem, type BareSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';
import { holdSubmitter } from './helpers/held-submitter.js';
import { taskReadableTempDir } from './helpers/temp-dir.js';

let sys: BareSystem | undefined;
afterEach(async () => {
  await sys?.stop();
  sys = undefined;
});

const sleepTask = (ms: number): TaskInput => ({ taskClass: 'inproc', payload: { ms: String(ms) }, executor: { handler: 'sleep' } });

/** Layers of `width` steps, each step depending on every step of the layer before. */
function layered(name: string, layers: number, width: number, ms: number): WorkflowInput {
  const steps: WorkflowInput['steps'] = [];
  for (let l = 0; l < layers; l++) {
    for (let i = 0; i < width; i++) {
      steps.push({ stepId: `l${l}s${i}`, task: sleepTask(ms), dependsOn: l === 0 ? [] : Array.from({ length: width }, (_, j) => `l${l - 1}s${j}`) });
    }
  }
  return { name, steps };
}

/** How many times each step task of the run was submitted and started (events stream). */
async function countsPerStep(s: BareSystem, runId: string): Promise<Map<string, { submitted: number; started: number }>> {
  const out = new Map<string, { submitted: number; started: number }>();
  for (const [, f] of await s.r.xrange(s.keys.events, '-', '+')) {
    const [type, taskId] = [f[1], f[3]];
    if (!taskId?.startsWith(`${runId}.`) || (type !== 'submitted' && type !== 'started')) continue;
    const c = out.get(taskId) ?? { submitted: 0, started: 0 };
    c[type] += 1;
    out.set(taskId, c);
  }
  return out;
}

/** WorkflowRuns options for a test playing an orchestrator's engine over the system's Redis. */
function runsOptions(s: BareSystem, parts: Pick<WorkflowRunsOptions, 'submitter' | 'canceller'>): WorkflowRunsOptions {
  return {
    redis: s.r,
    keys: s.keys,
    store: new WorkflowStore({
      redis: s.r,
      keys: s.keys,
      classes: s.config.classes,
      maxPayloadBytes: s.config.grpc.maxPayloadBytes,
      maxSteps: s.config.workflows.maxSteps,
    }),
    logger: createLogger('silent'),
    eventsMaxLen: s.config.streams.eventsMaxLen,
    runRetentionMs: s.config.workflows.runRetentionMs,
    maxInputBytes: s.config.grpc.maxPayloadBytes,
    ...parts,
  };
}

/** A system with a pool serving `classes`, an orchestrator process, and a gate file (not yet there) for gatedTask. */
async function gatedSystem(classes: string) {
  const s = (sys = await startBareSystem());
  await s.startPool({ classes });
  const o = await s.startOrchestrator();
  return { s, o, gate: join(taskReadableTempDir('orq-gate-'), 'open') };
}

/** A command task that waits for the file `gate` to exist, then exits with `code`. */
function gatedTask(gate: string, code: number): TaskInput {
  return {
    taskClass: 'cpu_short',
    payload: { p: '1' },
    executor: { command: { argv: ['sh', '-c', `while [ ! -e "$GATE" ]; do sleep 0.05; done; exit ${code}`], env: { GATE: gate } } },
  };
}

async function expectEachStepOnce(s: BareSystem, client: OrchestratorClient, runId: string, steps: number): Promise<void> {
  const run = await client.getWorkflowRun(runId);
  expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED);
  expect(run.steps.filter((x) => x.state === StepState.STEP_STATE_SUCCEEDED)).toHaveLength(steps);
  const counts = await countsPerStep(s, runId);
  expect(counts.size).toBe(steps);
  for (const [taskId, c] of counts) expect({ taskId, ...c }).toEqual({ taskId, submitted: 1, started: 1 });
}

// Several processes started, killed and started again: minutes on a loaded 2-core machine.
describe('several orchestrators', { timeout: 180_000 }, () => {
  it('drive the same runs with no step run twice', async () => {
    sys = await startBareSystem();
    await sys.startPool({ classes: 'inproc:16' });
    const [a, b, c] = await Promise.all([sys.startOrchestrator(), sys.startOrchestrator(), sys.startOrchestrator()]);
    await a.client.createWorkflow(layered('shared', 3, 6, 20));
    const runs = await Promise.all(Array.from({ length: 12 }, (_, i) => [a, b, c][i % 3]!.client.startWorkflowRun({ name: 'shared', runId: `shared-${i}` })));
    for (const { runId } of runs) {
      await b.client.waitForRun(runId, { timeoutMs: 60_000 });
      await expectEachStepOnce(sys, c.client, runId, 18);
    }
    // All three engines joined the inbox's consumer group.
    const consumers = (await sys.r.xinfo('CONSUMERS', sys.keys.workflowInbox, 'engine')) as unknown[];
    expect(consumers.length).toBe(3);
  });
});

describe('an orchestrator killed mid-run', { timeout: 180_000 }, () => {
  it('is restarted and the run completes, each step run once', async () => {
    sys = await startBareSystem();
    await sys.startPool({ classes: 'inproc:8' });
    let o = await sys.startOrchestrator();
    await o.client.createWorkflow(layered('survivor', 4, 3, 300));
    const { runId } = await o.client.startWorkflowRun({ name: 'survivor', runId: 'survivor-1' });

    // Kill it three times at different points of the run, restarting it each time: once a step
    // of this layer or a later one runs (a layer's 300 ms steps can run between two polls on a
    // loaded machine, and then the next layer is the point to kill at).
    for (const layer of [0, 1, 2]) {
      const client = o.client;
      await waitFor(
        async () =>
          (await client.getWorkflowRun(runId)).steps.some(
            (s) => Number(s.stepId.slice(1, s.stepId.indexOf('s'))) >= layer && s.state === StepState.STEP_STATE_RUNNING,
          ),
        {
          timeoutMs: 30_000,
          message: `no step of layer ${layer} or later ever ran`,
        },
      );
      o.kill('SIGKILL');
      await o.exited;
      o = await sys.startOrchestrator();
    }
    const run = await o.client.waitForRun(runId, { timeoutMs: 60_000 });
    expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED);
    await expectEachStepOnce(sys, o.client, runId, 12);
  });

  it('leaves no step behind when killed between releasing steps and submitting them', async () => {
    const s = (sys = await startBareSystem());
    await s.startPool({ classes: 'inproc:8' });
    let o = await s.startOrchestrator();
    // A wide layer after a short root: the kill is meant to land after the script that releases
    // the 300 steps (root succeeded) and before the one that marks them queued. Where a kill
    // lands is up to the scheduler, so a run it missed is left to finish and another is tried.
    // Each wide step depends on two steps (pre, then root): a step depending on one step alone
    // has its task added by the script that records that step's success (no window to kill in).
    const width = 300;
    await o.client.createWorkflow({
      name: 'wide-kill',
      steps: [
        { stepId: 'pre', task: sleepTask(0) },
        { stepId: 'root', dependsOn: ['pre'], task: sleepTask(200) },
        ...Array.from({ length: width }, (_, i) => ({ stepId: `w${i}`, dependsOn: ['pre', 'root'], task: sleepTask(0) })),
      ],
    });
    let runId = '';
    let leftReleasing: string[] = [];
    for (let attempt = 1; attempt <= 5 && leftReleasing.length === 0; attempt++) {
      runId = `wide-kill-${attempt}`;
      const client = o.client;
      await client.startWorkflowRun({ name: 'wide-kill', runId });
      await waitFor(async () => (await s.r.hget(s.keys.runSteps(runId), 'root')) === 'succeeded', { intervalMs: 1, message: 'root never finished' });
      o.kill('SIGKILL');
      await o.exited;
      const run = runId;
      leftReleasing = (await s.r.zrange(s.keys.releasing, 0, -1)).filter((m) => m.startsWith(`${run}\t`));
      o = await s.startOrchestrator();
      if (leftReleasing.length === 0) await o.client.waitForRun(runId, { timeoutMs: 60_000 });
    }
    // The kill landed in the window: steps were left releasing, and the restarted orchestrator's
    // sweep took them over.
    expect(leftReleasing.length).toBeGreaterThan(0);
    await o.client.waitForRun(runId, { timeoutMs: 60_000 });
    const restarted = o;
    const recovered = restarted
      .output()
      .split('\n')
      .filter((l) => l.includes('releasing steps whose releaser stopped') && l.includes(`"runId":"${runId}"`));
    expect(recovered.length).toBeGreaterThan(0);
    await expectEachStepOnce(s, restarted.client, runId, width + 2);
    expect(await s.r.zcard(s.keys.releasing)).toBe(0);
  });
});

describe('an orchestrator that dies after applying a failure, before cancelling', { timeout: 180_000 }, () => {
  it('has running steps of the stopped run cancelled by whoever applies the outcome again', async () => {
    const { s, o, gate } = await gatedSystem('inproc:4,cpu_short:2');
    await o.client.createWorkflow({
      name: 'lost-cancel',
      failurePolicy: 'fail_fast',
      steps: [
        { stepId: 'slow', task: { ...sleepTask(120_000), timeoutMs: 300_000 } },
        // Fails once the test opens the gate, while no orchestrator reads the inbox.
        { stepId: 'bad', task: gatedTask(gate, 3) },
      ],
    });
    const { runId } = await o.client.startWorkflowRun({ name: 'lost-cancel', runId: 'lost-cancel-1' });
    await waitFor(async () => (await o.client.getWorkflowRun(runId)).steps.every((x) => x.state === StepState.STEP_STATE_RUNNING), {
      message: 'slow and bad never both ran',
    });
    o.kill('SIGKILL');
    await o.exited;

    // Play the orchestrator that died: read bad's outcome from the inbox, apply it, and fail to
    // cancel (the connection is lost), leaving the entry unacknowledged.
    writeFileSync(gate, '');
    const entries = await waitFor(
      async () => {
        const read = (await s.r.xreadgroup('GROUP', ENGINE_GROUP, 'died-engine', 'COUNT', 10, 'STREAMS', s.keys.workflowInbox, '>')) as
          [string, [string, string[]][]][] | null;
        return read?.[0]?.[1];
      },
      { message: "bad's outcome never reached the inbox" },
    );
    expect(entries).toHaveLength(1);
    const runs = new WorkflowRuns(
      runsOptions(s, {
        // A fail_fast failure releases nothing: nothing is submitted.
        submitter: {} as TaskSubmitter,
        canceller: { cancel: () => Promise.reject(new Error('connection lost')) } as unknown as TaskCanceller,
      }),
    );
    await expect(runs.stepFinished(parseResult(entries![0]![1]))).rejects.toThrow('connection lost');
    expect(await s.r.hgetall(s.keys.runSteps(runId))).toEqual({ slow: 'queued', bad: 'failed' });
    expect(await s.r.hmget(s.keys.run(runId), 'state', 'stop')).toEqual(['running', 'failure']);

    // The next orchestrator takes the entry over after recoverAfterMs and applies it again.
    const next = await s.startOrchestrator();
    const run = await next.client.waitForRun(runId, { timeoutMs: 30_000 });
    expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_FAILED);
    expect(run.steps.map((x) => [x.stepId, x.state])).toEqual([
      ['slow', StepState.STEP_STATE_CANCELLED],
      ['bad', StepState.STEP_STATE_FAILED],
    ]);
    expect((await next.client.getTaskStatus(`${runId}.slow`)).state).toBe(TaskState.TASK_STATE_CANCELLED);
    expect(next.output()).toContain('taking over workflow inbox entries of a stopped consumer');
  });
});

describe('a step outcome that fails to apply every time', { timeout: 120_000 }, () => {
  it('is dead-lettered after its tries; its step fails naming why and the run ends', async () => {
    const { s, o, gate } = await gatedSystem('inproc:2,cpu_short:2');
    await o.client.createWorkflow({
      name: 'poisoned',
      failurePolicy: 'continue',
      steps: [
        { stepId: 'a', task: gatedTask(gate, 0) },
        // b refers to a's result, so a's success is not staged for its pool to apply
        // (src/store/workflows/staged-steps.ts): it goes through the engine's inbox.
        { stepId: 'b', dependsOn: ['a'], task: { ...sleepTask(10), payload: { ms: '10', after: '${steps.a.result}' } } },
        { stepId: 'c', task: sleepTask(10) },
      ],
    });
    const { runId } = await o.client.startWorkflowRun({ name: 'poisoned', runId: 'poisoned-1' });
    await waitFor(
      async () => {
        const steps = (await o.client.getWorkflowRun(runId)).steps;
        return (
          steps.find((x) => x.stepId === 'a')?.state === StepState.STEP_STATE_RUNNING &&
          steps.find((x) => x.stepId === 'c')?.state === StepState.STEP_STATE_SUCCEEDED
        );
      },
      { message: 'a never ran, or c never finished' },
    );
    o.kill('SIGKILL');
    await o.exited;

    // Play an orchestrator whose engine fails to apply a's success every time (as a bug, or run
    // state it cannot read, would make it), trying each entry twice.
    class Poisoned extends WorkflowRuns {
      override stepFinished(r: TaskResultRecord, inbox?: InboxEntry): Promise<StepFinished> {
        return r.state === 'succeeded' ? Promise.reject(new Error('cannot apply this outcome')) : super.stepFinished(r, inbox);
      }
    }
    // With the continue policy and a's dependent skipped, nothing is submitted or cancelled.
    const runs = new Poisoned(runsOptions(s, { submitter: {} as TaskSubmitter, canceller: {} as TaskCanceller }));
    const engine = new WorkflowEngine({
      redis: s.r,
      redisUrl: s.redis.url,
      keys: s.keys,
      taskClasses: [],
      runs,
      logger: createLogger('silent'),
      recoverAfterMs: 300,
      sweepIntervalMs: 100,
      maxDeliveries: 2,
    });
    await engine.start();
    let dead: [string, string[]][] | undefined;
    try {
      writeFileSync(gate, '');
      dead = await waitFor(
        async () => {
          const entries = await s.r.xrange(s.keys.workflowInboxDead, '-', '+');
          return entries.length > 0 ? entries : undefined;
        },
        { message: "a's outcome was never dead-lettered" },
      );
      await waitFor(async () => (await s.r.hget(s.keys.run(runId), 'state')) !== 'running', { message: 'the run never ended' });
    } finally {
      await engine.close();
    }

    // Moved with its inbox id and tries; nothing left in the inbox or pending in the group.
    expect(dead).toHaveLength(1);
    const f = dead![0]![1];
    expect(f.slice(0, 4)).toEqual(['inbox_id', expect.stringMatching(/^\d+-\d+$/), 'deliveries', '2']);
    const entry = parseResult(f.slice(4));
    expect([entry.taskId, entry.state, entry.workflowId]).toEqual([`${runId}.a`, 'succeeded', runId]);
    expect(await s.r.xlen(s.keys.workflowInbox)).toBe(0);
    expect(((await s.r.xpending(s.keys.workflowInbox, ENGINE_GROUP)) as unknown[])[0]).toBe(0);

    // a failed naming why, b was skipped, c's success stands; operators see the dead letter.
    const next = await s.startOrchestrator();
    const run = await next.client.getWorkflowRun(runId);
    expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_FAILED);
    expect(run.steps.map((x) => [x.stepId, x.state])).toEqual([
      ['a', StepState.STEP_STATE_FAILED],
      ['b', StepState.STEP_STATE_SKIPPED],
      ['c', StepState.STEP_STATE_SUCCEEDED],
    ]);
    expect(run.steps[0]!.error).toBe(`its succeeded outcome could not be applied after 2 tries (kept in ${s.keys.workflowInboxDead} as inbox entry ${f[1]})`);
    expect((await next.client.getMetrics()).metrics.workflow_inbox_dead_letters).toBe(1);
  });
});

describe('a run cancelled while its steps are being submitted', { timeout: 120_000 }, () => {
  it('creates none of their tasks, so none can start', async () => {
    const s = (sys = await startBareSystem());
    await s.startPool({ classes: 'inproc:4' });
    const o = await s.startOrchestrator();
    await o.client.createWorkflow({
      name: 'cancel-early',
      steps: [
        { stepId: 'a', task: sleepTask(10) },
        { stepId: 'b', task: sleepTask(10) },
      ],
    });

    // This test's engine submits the run's first steps, held at the submit until the run is cancelled.
    const bull = new Redis(s.redis.url, { maxRetriesPerRequest: null });
    const queues = new TaskQueues({ redis: bull, keys: s.keys, classes: s.config.classes });
    try {
      const submitter = new TaskSubmitter({
        redis: s.r,
        keys: s.keys,
        queues,
        maxPayloadBytes: s.config.grpc.maxPayloadBytes,
        maxBatchSize: s.config.grpc.maxBatchSize,
        eventsMaxLen: s.config.streams.eventsMaxLen,
      });
      const canceller = new TaskCanceller({
        redis: s.r,
        keys: s.keys,
        queues,
        status: new TaskStatusReader({ redis: s.r, keys: s.keys, queues }),
        eventsMaxLen: s.config.streams.eventsMaxLen,
        resultsMaxLen: s.config.streams.resultsMaxLen,
      });
      const { held, atSubmit, open } = holdSubmitter(submitter);
      const runs = new WorkflowRuns(runsOptions(s, { submitter: held, canceller }));

      const started = runs.start({ name: 'cancel-early', runId: 'cancel-early-1', inputs: {} });
      await atSubmit;
      expect(await s.r.hgetall(s.keys.runSteps('cancel-early-1'))).toEqual({ a: 'releasing', b: 'releasing' });
      await o.client.cancelWorkflowRun('cancel-early-1', 'changed my mind');
      open();
      await started;

      const run = await o.client.getWorkflowRun('cancel-early-1');
      expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_CANCELLED);
      expect(run.steps.map((x) => [x.stepId, x.state])).toEqual([
        ['a', StepState.STEP_STATE_CANCELLED],
        ['b', StepState.STEP_STATE_CANCELLED],
      ]);
      for (const step of ['a', 'b']) await expect(o.client.getTaskStatus(`cancel-early-1.${step}`)).rejects.toThrow(/NOT_FOUND/);
      expect((await countsPerStep(s, 'cancel-early-1')).size).toBe(0);
      expect(await s.r.zcard(s.keys.releasing)).toBe(0);
    } finally {
      await queues.close();
      bull.disconnect();
    }
  });
});
