/**
 * Workflows and the task RPCs that span classes, on a Redis Cluster of three masters with the
 * suite's three classes on three different masters (each class has a slot of its own, README
 * "Redis Cluster"; a class sharing a master with another is moved with CLUSTER SETSLOT before
 * any task exists).
 *
 * - Runs whose steps fan out over the three classes and fan in again, passing results along
 *   (`${steps.a.result.x}`), started on an orchestrator process that is killed with kill -9
 *   twice mid-run and started again: every run ends SUCCEEDED with the right results, each step's
 *   task was submitted, started and succeeded once (its class's own events stream), nothing is
 *   left running or releasing.
 * - A run cancelled while its steps are being submitted: on a cluster a step's task is added
 *   without a look at its step (its run lives in another slot), and the engine cancels it right
 *   after; every step task ends cancelled, none succeeds after the cancel was acknowledged.
 * - RetryTasks (by ids and by filter), CancelTask and GetTaskStatus on tasks of classes on
 *   different masters, and ListTasks paging across them.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StepState, TaskState, WorkflowRunState, type TaskInput, type WorkflowInput } from '../src/client/orchestrator-client.js';
import { createLogger } from '../src/logging/logger.js';
import { createRedis } from '../src/redis/connection.js';
import { keysFor } from '../src/store/keys-for.js';
import { TaskCanceller } from '../src/tasks/task-canceller.js';
import { TaskSubmitter } from '../src/tasks/submitter.js';
import { TaskQueues } from '../src/tasks/task-queues.js';
import { TaskStatusReader } from '../src/tasks/task-status.js';
import { WorkflowRuns } from '../src/workflows/workflow-runs.js';
import { WorkflowStore } from '../src/workflows/workflow-store.js';
import { byTask, readFeed } from './helpers/feed-audit.js';
import { startRedisCluster, type RedisClusterHandle } from './helpers/redis-cluster.js';
import { startSystem, TEST_CONFIG_TOML, type OrchestratorProcess, type TestSystem } from './helpers/system.js';
import { taskReadableTempDir } from './helpers/temp-dir.js';
import { waitFor } from './helpers/wait.js';
import { holdSubmitter } from './helpers/held-submitter.js';

const CLASSES = ['inproc', 'cpu_short', 'cpu_long'] as const;
const FINAL = new Set([TaskState.TASK_STATE_SUCCEEDED, TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_CANCELLED]);
type Cls = (typeof CLASSES)[number];

/**
 * Locks longer than the test config's 2 s: on a loaded machine a pool that misses a lock
 * extension has its task stall and run again (at least once, README "Delivery guarantees"),
 * which is not what this suite is about; no pool is killed here.
 */
const TOML = TEST_CONFIG_TOML.replaceAll('lockDurationMs = 2000', 'lockDurationMs = 10000');

let cluster: RedisClusterHandle;
let sys: TestSystem<RedisClusterHandle>;
/** The master serving each class's keys, once they are spread. */
const masterOfClass = new Map<Cls, number>();

beforeAll(async () => {
  expect(TOML).not.toBe(TEST_CONFIG_TOML);
  cluster = await startRedisCluster({ masters: 3 });
  // Spread the classes over the masters before any of their keys exist (an empty slot moves at once).
  const masters = (await cluster.nodes()).filter((n) => n.role === 'master' && n.slots.length > 0).map((n) => n.port);
  const keysOf = keysFor('orq', cluster.url);
  const taken = new Set<number>();
  for (const cls of CLASSES) {
    let m = await cluster.masterOf(keysOf.taskList(cls));
    if (taken.has(m)) {
      const free = masters.find((p) => !taken.has(p))!;
      await cluster.moveSlot(await cluster.slotOf(keysOf.taskList(cls)), free);
      m = free;
    }
    taken.add(m);
  }
  await cluster.waitOk();
  sys = await startSystem({ redis: cluster, toml: TOML });
  for (const cls of CLASSES) masterOfClass.set(cls, await cluster.masterOf(sys.keys.taskList(cls)));
  await sys.startPool({ classes: 'inproc:8,cpu_short:8,cpu_long:8' });
}, 120_000);
afterAll(async () => {
  if (sys) await sys.stop();
  else await cluster?.stop();
});

const echo = (taskClass: Cls, payload: Record<string, string>): TaskInput => ({ taskClass, payload });
const sleepIn = (taskClass: Cls, ms: number): TaskInput => ({ taskClass, payload: { ms: String(ms) }, executor: { handler: 'sleep' } });

/** Every event of the class's own stream, grouped by task. */
async function classEvents(cls: Cls): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const [id, list] of byTask(await readFeed(sys.r, sys.keys.eventsOf(cls))))
    out.set(
      id,
      list.map((e) => e.f.type!),
    );
  return out;
}

describe('the suite’s classes', () => {
  it('are on three different masters', () => {
    expect(new Set(masterOfClass.values()).size).toBe(3);
  });
});

/** Fan-out over three classes from `a`, fan-in at `c`, then `d`; the s* steps take time. */
const SPREAD: WorkflowInput = {
  name: 'spread',
  steps: [
    { stepId: 'a', task: echo('inproc', { x: '${inputs.x}' }) },
    { stepId: 'b1', dependsOn: ['a'], task: echo('cpu_short', { y: '${steps.a.result.x}' }) },
    { stepId: 'b2', dependsOn: ['a'], task: echo('cpu_long', { y: '${steps.a.result.x}0' }) },
    { stepId: 's1', dependsOn: ['a'], task: sleepIn('cpu_short', 2_000) },
    { stepId: 's2', dependsOn: ['b1'], task: sleepIn('cpu_long', 2_000) },
    { stepId: 'c', dependsOn: ['b1', 'b2', 's1', 's2'], task: echo('inproc', { sum: '${steps.b1.result.y}+${steps.b2.result.y}' }) },
    { stepId: 's3', dependsOn: ['c'], task: sleepIn('inproc', 4_000) },
    { stepId: 'd', dependsOn: ['c', 's3'], task: echo('cpu_long', { final: '${steps.c.result.sum}' }) },
  ],
};
const STEP_CLASS = new Map<string, Cls>(SPREAD.steps.map((s) => [s.stepId, s.task.taskClass as Cls]));

describe('workflows whose steps run on three masters', { timeout: 180_000 }, () => {
  it('survive an orchestrator killed with kill -9 twice mid-run: right results, each step task once', async () => {
    let o: OrchestratorProcess = await sys.startOrchestrator();
    await o.client.createWorkflow(SPREAD);
    const RUNS = 6;
    const runIds = Array.from({ length: RUNS }, (_, i) => `spread-${i}`);

    // Killed once a step of the fan-out is running, then once a step after the fan-in is: both
    // times with runs unfinished, whose engine work the other orchestrators take over. Each kill
    // has a wave of runs of its own, started on the orchestrator about to be killed: on a loaded
    // machine the runs of the first wave could all end while the next orchestrator started.
    const waves = [runIds.slice(0, RUNS / 2), runIds.slice(RUNS / 2)];
    const unfinishedAtKill: number[] = [];
    for (const [k, past] of [
      ['b1', 'b2', 's1', 's2'],
      ['c', 's3', 'd'],
    ].entries()) {
      const client = o.client;
      for (const runId of waves[k]!) await client.startWorkflowRun({ name: 'spread', runId, inputs: { x: String(runIds.indexOf(runId) + 1) } });
      await waitFor(
        async () => {
          for (const runId of waves[k]!) {
            const run = await client.getWorkflowRun(runId);
            if (run.steps.some((s) => past.includes(s.stepId) && s.state === StepState.STEP_STATE_RUNNING)) return true;
          }
          return false;
        },
        // After a kill the runs wait for the engine's recovery (workflows.recoverAfterMs): slow on a loaded machine.
        { timeoutMs: 60_000, message: `no step of ${past.join(', ')} ever ran` },
      ).catch(async (err) => {
        const states = await Promise.all(
          waves
            .slice(0, k + 1)
            .flat()
            .map(async (r) =>
              sys.client.getWorkflowRun(r).then(
                (run) => `${r}: ${run.steps.map((s) => `${s.stepId}=${s.state}`).join(' ')}`,
                (e: Error) => `${r}: ${e.message}`,
              ),
            ),
        );
        throw new Error(`${String(err)}\n${states.join('\n')}\n${o.output().slice(-3000)}`);
      });
      o.kill('SIGKILL');
      await o.exited;
      let open = 0;
      for (const runId of waves.slice(0, k + 1).flat())
        if ((await sys.client.getWorkflowRun(runId)).state === WorkflowRunState.WORKFLOW_RUN_STATE_RUNNING) open++;
      unfinishedAtKill.push(open);
      o = await sys.startOrchestrator();
    }
    expect(unfinishedAtKill.every((n) => n > 0)).toBe(true);

    for (const [i, runId] of runIds.entries()) {
      const run = await o.client.waitForRun(runId, { timeoutMs: 60_000 });
      expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED);
      expect(run.steps.every((s) => s.state === StepState.STEP_STATE_SUCCEEDED)).toBe(true);
      const result = (stepId: string) => JSON.parse(run.steps.find((s) => s.stepId === stepId)!.resultJson) as unknown;
      const x = String(i + 1);
      expect([result('b1'), result('b2'), result('c'), result('d')]).toEqual([{ y: x }, { y: `${x}0` }, { sum: `${x}+${x}0` }, { final: `${x}+${x}0` }]);
    }

    // Each step's task in its own class's stream: submitted, started and succeeded once.
    const events = new Map<Cls, Map<string, string[]>>();
    for (const cls of CLASSES) events.set(cls, await classEvents(cls));
    for (const runId of runIds) {
      for (const [stepId, cls] of STEP_CLASS) {
        const taskId = `${runId}.${stepId}`;
        expect({ taskId, events: events.get(cls)!.get(taskId) }).toEqual({ taskId, events: ['submitted', 'started', 'succeeded'] });
        // In no other class's stream.
        for (const other of CLASSES) if (other !== cls) expect(events.get(other)!.has(taskId)).toBe(false);
      }
    }
    // Nothing left running, queued or being released; every inbox read to the end.
    for (const runId of runIds) {
      const open = await sys.client.listTasks({ workflowId: runId, states: [TaskState.TASK_STATE_RUNNING, TaskState.TASK_STATE_QUEUED] });
      expect(open.tasks).toEqual([]);
    }
    expect(await sys.r.zcard(sys.keys.releasing)).toBe(0);
    await waitFor(
      async () => {
        for (const cls of CLASSES) if ((await sys.r.xlen(sys.keys.workflowInboxOf(cls))) > 0) return false;
        return true;
      },
      { timeoutMs: 10_000, message: 'step outcomes left in a class inbox' },
    );
  });
});

/**
 * A WorkflowRuns of the test's own over the system's cluster, whose submissions of step tasks
 * wait at `atSubmit` until `open()`, then, once submitted, until every task submitted has ended:
 * the engine's cancel after mark-queued comes too late to stop any of them, only cancel marks
 * written before can.
 */
function heldEngine() {
  const bull = createRedis(cluster.url);
  const queues = new TaskQueues({ redis: bull, keys: sys.keys, classes: sys.config.classes });
  const status = new TaskStatusReader({ redis: sys.r, keys: sys.keys, queues });
  const submitter = new TaskSubmitter({
    redis: sys.r,
    keys: sys.keys,
    queues,
    maxPayloadBytes: sys.config.grpc.maxPayloadBytes,
    maxBatchSize: sys.config.grpc.maxBatchSize,
    eventsMaxLen: sys.config.streams.eventsMaxLen,
  });
  const canceller = new TaskCanceller({
    redis: sys.r,
    keys: sys.keys,
    queues,
    status,
    eventsMaxLen: sys.config.streams.eventsMaxLen,
    resultsMaxLen: sys.config.streams.resultsMaxLen,
  });
  const { held, atSubmit, open } = holdSubmitter(submitter, async (tasks) => {
    await waitFor(
      async () => {
        for (const t of tasks) if (!FINAL.has((await sys.client.getTaskStatus(t.taskId)).state)) return false;
        return true;
      },
      { timeoutMs: 20_000, message: 'the step tasks never ended' },
    );
  });
  const runs = new WorkflowRuns({
    redis: sys.r,
    keys: sys.keys,
    store: new WorkflowStore({
      redis: sys.r,
      keys: sys.keys,
      classes: sys.config.classes,
      maxPayloadBytes: sys.config.grpc.maxPayloadBytes,
      maxSteps: sys.config.workflows.maxSteps,
    }),
    submitter: held,
    canceller,
    logger: createLogger('silent'),
    eventsMaxLen: sys.config.streams.eventsMaxLen,
    runRetentionMs: sys.config.workflows.runRetentionMs,
    maxInputBytes: sys.config.grpc.maxPayloadBytes,
  });
  const close = async () => {
    await queues.close();
    bull.disconnect();
  };
  return { runs, atSubmit, open, close };
}

describe('a run cancelled while its steps are being submitted, on a cluster', { timeout: 60_000 }, () => {
  it('adds none of their tasks, on whichever master their class is', async () => {
    await sys.client.createWorkflow({
      name: 'cancel-spread',
      steps: [
        { stepId: 'a', task: sleepIn('inproc', 3_000) },
        { stepId: 'b', task: sleepIn('cpu_short', 3_000) },
        // Fast: what a pool would finish if the task were added and cancelled only after.
        { stepId: 'c', task: echo('cpu_long', { fast: '1' }) },
      ],
    });
    // This test's engine releases the run's first steps, held at the submit until the run's
    // cancel has been acknowledged: the tasks are added after it, in three slots on three masters.
    const { runs, atSubmit, open, close } = heldEngine();
    try {
      const runId = 'cancel-spread-1';
      const started = runs.start({ name: 'cancel-spread', runId, inputs: {} });
      await atSubmit;
      expect(await sys.r.hgetall(sys.keys.runSteps(runId))).toEqual({ a: 'releasing', b: 'releasing', c: 'releasing' });
      await sys.client.cancelWorkflowRun(runId, 'changed my mind');
      // Acknowledged: each step's task is marked cancelled in its own class (three masters).
      for (const [stepId, cls] of [
        ['a', 'inproc'],
        ['b', 'cpu_short'],
        ['c', 'cpu_long'],
      ] as const) {
        expect([stepId, await sys.r.hget(sys.keys.cancelOf(cls), `${runId}.${stepId}`)]).toEqual([stepId, 'run cancelled: changed my mind']);
      }
      open();
      await started;

      const run = await sys.client.getWorkflowRun(runId);
      expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_CANCELLED);
      expect(run.steps.map((x) => [x.stepId, x.state])).toEqual([
        ['a', StepState.STEP_STATE_CANCELLED],
        ['b', StepState.STEP_STATE_CANCELLED],
        ['c', StepState.STEP_STATE_CANCELLED],
      ]);
      // Before the cancel was acknowledged each step's task got a cancel mark in its own class
      // (three masters), so the task the held release submits after it is not added at all (the
      // add finds the mark, its claim not yet settled): each reads cancelled, none has an event,
      // none succeeded (the fast one included).
      for (const [stepId, cls] of [
        ['a', 'inproc'],
        ['b', 'cpu_short'],
        ['c', 'cpu_long'],
      ] as const) {
        const taskId = `${runId}.${stepId}`;
        expect([taskId, await sys.r.hexists(sys.keys.cancelOf(cls), taskId)]).toEqual([taskId, 1]);
        const st = await waitFor(
          async () => {
            const s = await sys.client.getTaskStatus(taskId);
            return s.state === TaskState.TASK_STATE_CANCELLED || s.state === TaskState.TASK_STATE_SUCCEEDED ? s : undefined;
          },
          { timeoutMs: 15_000, message: `${taskId} never ended` },
        );
        expect([taskId, st!.taskClass, st!.state, st!.resultJson]).toEqual([taskId, cls, TaskState.TASK_STATE_CANCELLED, '']);
        expect([taskId, (await classEvents(cls)).get(taskId) ?? []]).toEqual([taskId, []]);
        expect(await sys.r.exists(sys.keys.job(cls, taskId))).toBe(0);
      }
      expect(await sys.r.zcard(sys.keys.releasing)).toBe(0);
    } finally {
      await close();
    }
  });

  it('on a fail_fast stop, marks the steps it skipped while they were released, so their tasks never run', async () => {
    await sys.client.createWorkflow({
      name: 'fail-spread',
      failurePolicy: 'fail_fast',
      steps: [
        { stepId: 'bad', task: echo('inproc', { bad: '1' }) },
        { stepId: 'x', task: echo('cpu_long', { fast: '1' }) },
      ],
    });
    const { runs, atSubmit, open, close } = heldEngine();
    try {
      const runId = 'fail-spread-1';
      const started = runs.start({ name: 'fail-spread', runId, inputs: {} });
      await atSubmit;
      // bad's failure is applied while both steps are still being released (as an engine
      // applies an outcome read from the inbox): x is skipped, its task marked cancelled.
      await runs.stepFinished({
        taskId: `${runId}.bad`,
        taskClass: 'inproc',
        attempt: 1,
        atMs: Date.now(),
        state: 'failed',
        workflowId: runId,
        error: 'boom',
        durationMs: 1,
      });
      expect(await sys.r.hgetall(sys.keys.runSteps(runId))).toEqual({ bad: 'failed', x: 'skipped' });
      expect(await sys.r.hget(sys.keys.cancelOf('cpu_long'), `${runId}.x`)).toBe('run stopped: step bad failed');
      open();
      await started;
      const st = await sys.client.getTaskStatus(`${runId}.x`);
      expect([st.state, st.resultJson]).toEqual([TaskState.TASK_STATE_CANCELLED, '']);
      expect((await classEvents('cpu_long')).get(`${runId}.x`) ?? []).not.toContain('succeeded');
      expect((await sys.client.getWorkflowRun(runId)).state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_FAILED);
    } finally {
      await close();
    }
  });
});

describe('a run cancelled as its root step finishes, end to end', { timeout: 60_000 }, () => {
  it('has no step task succeed that had not started before the cancel was acknowledged', async () => {
    // A wide layer over the three classes, released as the root succeeds: the cancel is sent the
    // moment the root is seen succeeded, while the layer is being released, submitted or queued.
    const width = 60;
    await sys.client.createWorkflow({
      name: 'cancel-wide',
      steps: [
        { stepId: 'root', task: echo('inproc', { r: '1' }) },
        ...Array.from({ length: width }, (_, i) => ({ stepId: `w${i}`, dependsOn: ['root'], task: echo(CLASSES[i % 3]!, { w: String(i) }) })),
      ],
    });
    const runId = 'cancel-wide-1';
    await sys.client.startWorkflowRun({ name: 'cancel-wide', runId });
    await waitFor(async () => (await sys.r.hget(sys.keys.runSteps(runId), 'root')) === 'succeeded', { intervalMs: 1, message: 'root never finished' });
    await sys.client.cancelWorkflowRun(runId, 'enough');
    const ackAt = Date.now();
    const run = await sys.client.waitForRun(runId, { timeoutMs: 30_000 });
    expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_CANCELLED);

    const late: string[] = [];
    let cancelled = 0;
    for (const cls of CLASSES) {
      for (const [taskId, list] of byTask(await readFeed(sys.r, sys.keys.eventsOf(cls)))) {
        if (!taskId.startsWith(`${runId}.w`)) continue;
        const startedAt = list.find((e) => e.f.type === 'started')?.f.at;
        if (list.some((e) => e.f.type === 'succeeded') && !(Number(startedAt) <= ackAt))
          late.push(`${taskId} started ${startedAt}, cancel acknowledged ${ackAt}`);
        if (list.some((e) => e.f.type === 'cancelled')) cancelled++;
      }
    }
    expect(late).toEqual([]);
    // Every step that did not succeed ended cancelled, and no task of the run is left open.
    const steps = run.steps.filter((x) => x.stepId !== 'root');
    expect(steps.filter((x) => x.state !== StepState.STEP_STATE_SUCCEEDED && x.state !== StepState.STEP_STATE_CANCELLED)).toEqual([]);
    // On a cluster a step's task added just before the cancel marked it (README "Redis Cluster")
    // can stay queued a moment after the run ended: never run (checked above), it ends cancelled
    // when a pool takes it or the releasing engine sees the run stopped.
    await waitFor(
      async () => (await sys.client.listTasks({ workflowId: runId, states: [TaskState.TASK_STATE_RUNNING, TaskState.TASK_STATE_QUEUED] })).tasks.length === 0,
      { timeoutMs: 15_000, message: 'a task of the cancelled run is left open' },
    );
    // Nor any step task the list may not show (one re-added as a bare job): each is final, or was never added.
    const states = new Map<string, number>();
    for (let i = 0; i < width; i++) {
      const taskId = `${runId}.w${i}`;
      const st = await waitFor(
        () =>
          sys.client.getTaskStatus(taskId).then(
            (x) => (FINAL.has(x.state) ? String(x.state) : undefined),
            (err: unknown) => (/NOT_FOUND/.test(String(err)) ? 'not found' : undefined),
          ),
        { timeoutMs: 15_000, message: `${taskId} is left open` },
      );
      states.set(st!, (states.get(st!) ?? 0) + 1);
    }
    console.log(`cancel-wide step task states: ${JSON.stringify(Object.fromEntries(states))}`);
    console.log(
      `cancel-wide: ${steps.filter((x) => x.state === StepState.STEP_STATE_CANCELLED).length} of ${width} steps cancelled, ${cancelled} tasks with a cancelled event`,
    );
  });
});

describe('task RPCs across classes on different masters', { timeout: 60_000 }, () => {
  it('RetryTasks, by ids and by filter, reruns failed tasks of two classes, which then succeed', async () => {
    const gate = join(taskReadableTempDir('orq-retry-'), 'open');
    // Fails until the test opens the gate.
    const gated = (taskClass: Cls, taskId: string): TaskInput => ({
      taskId,
      taskClass,
      payload: { id: taskId },
      maxAttempts: 1,
      executor: { command: { argv: ['sh', '-c', '[ -e "$GATE" ] || exit 3'], env: { GATE: gate } } },
    });
    const since = Date.now();
    const byIds = ['rt-short-1', 'rt-long-1'];
    const byFilter = ['rt-short-2', 'rt-long-2'];
    await sys.client.submitTasks([
      gated('cpu_short', 'rt-short-1'),
      gated('cpu_long', 'rt-long-1'),
      gated('cpu_short', 'rt-short-2'),
      gated('cpu_long', 'rt-long-2'),
    ]);
    for (const id of [...byIds, ...byFilter]) expect((await sys.client.waitForResult(id, { timeoutMs: 30_000 })).state).toBe(TaskState.TASK_STATE_FAILED);
    writeFileSync(gate, '');

    const named = await sys.client.retryTasks({ taskIds: byIds });
    expect([named.retried.sort(), named.errors]).toEqual([[...byIds].sort(), []]);
    const filtered = await sys.client.retryTasks({
      filter: { taskClasses: ['cpu_short', 'cpu_long'], states: [TaskState.TASK_STATE_FAILED], submittedSinceMs: since },
    });
    expect([filtered.retried.sort(), filtered.errors, filtered.more]).toEqual([[...byFilter].sort(), [], false]);

    for (const id of [...byIds, ...byFilter]) {
      await waitFor(async () => (await sys.client.getTaskStatus(id)).state === TaskState.TASK_STATE_SUCCEEDED, {
        timeoutMs: 30_000,
        message: `${id} never succeeded`,
      });
      const cls: Cls = id.startsWith('rt-short') ? 'cpu_short' : 'cpu_long';
      expect({ id, events: (await classEvents(cls)).get(id) }).toEqual({ id, events: ['submitted', 'started', 'failed', 'requeued', 'started', 'succeeded'] });
    }
    // A second retry finds nothing failed.
    expect(
      (await sys.client.retryTasks({ filter: { taskClasses: ['cpu_short', 'cpu_long'], states: [TaskState.TASK_STATE_FAILED], submittedSinceMs: since } }))
        .retried,
    ).toEqual([]);
  });

  it('CancelTask finds a queued task of a class no pool serves, its index on another master, and GetTaskStatus any task', async () => {
    // gpu_slurm: no pool serves it, so its task stays queued.
    const cls = 'gpu_slurm';
    const classMaster = await cluster.masterOf(sys.keys.taskList(cls));
    let taskId = '';
    for (let i = 0; !taskId; i++) if ((await cluster.masterOf(sys.keys.taskIndex(`far-cancel-${i}`))) !== classMaster) taskId = `far-cancel-${i}`;
    await sys.client.submitTask({ taskId, taskClass: cls, payload: { wait: '1' } });
    expect((await sys.client.getTaskStatus(taskId)).state).toBe(TaskState.TASK_STATE_QUEUED);
    const res = await sys.client.cancelTask(taskId, 'not needed');
    expect(res.state).toBe(TaskState.TASK_STATE_CANCELLED);
    const st = await sys.client.getTaskStatus(taskId);
    expect([st.taskClass, st.state, st.error]).toEqual([cls, TaskState.TASK_STATE_CANCELLED, 'cancelled: not needed']);
    expect(await sys.r.hget(sys.keys.cancelOf(cls), taskId)).toBe('not needed');
    const types = (await readFeed(sys.r, sys.keys.eventsOf(cls))).filter((e) => e.f.task_id === taskId).map((e) => e.f.type);
    expect(types).toEqual(['submitted', 'cancelled']);
    // A second cancel changes nothing; an unknown id is NOT_FOUND naming it.
    expect((await sys.client.cancelTask(taskId, 'again')).state).toBe(TaskState.TASK_STATE_CANCELLED);
    await expect(sys.client.cancelTask('no-such-task-anywhere')).rejects.toThrow(/NOT_FOUND/);

    // GetTaskStatus finds a task in each class, whichever master holds it.
    const one = await sys.client.submitTasks(CLASSES.map((c) => echo(c, { where: c })));
    for (const [i, t] of one.entries()) {
      await sys.client.waitForResult(t.taskId, { timeoutMs: 30_000 });
      const s = await sys.client.getTaskStatus(t.taskId);
      expect([s.taskClass, s.state, JSON.parse(s.resultJson)]).toEqual([CLASSES[i], TaskState.TASK_STATE_SUCCEEDED, { where: CLASSES[i] }]);
    }
  });

  it('ListTasks pages across classes on different masters, newest first, none missed or repeated', async () => {
    const since = Date.now();
    const made: string[] = [];
    // One call per task: distinct submit times, interleaving the classes.
    for (let i = 0; i < 8; i++) made.push((await sys.client.submitTask(echo(i % 2 === 0 ? 'cpu_short' : 'cpu_long', { page: String(i) }))).taskId);
    await sys.client.submitTask(echo('inproc', { page: 'other class' }));
    const filter = { taskClasses: ['cpu_short', 'cpu_long'], submittedSinceMs: since };
    const pages: string[][] = [];
    const times: number[] = [];
    let pageToken = '';
    do {
      const page = await sys.client.listTasks(filter, { pageSize: 3, pageToken });
      pages.push(page.tasks.map((t) => t.taskId));
      times.push(...page.tasks.map((t) => Number(t.submittedAtMs)));
      pageToken = page.nextPageToken;
    } while (pageToken && pages.length < 10);
    expect(pages.map((p) => p.length)).toEqual([3, 3, 2]);
    const listed = pages.flat();
    expect(listed).toEqual([...made].reverse());
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });
});
