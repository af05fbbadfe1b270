/**
 * Workflow benchmark: a 1,000-step run (a root, a wide layer released at once, a fan-in step,
 * then a long chain) of no-op steps, run twice on each side (the first after start is reported
 * apart), the second timed whole and by phase from the steps' finish times; the
 * same work through our plain task path, so the orchestration cost per step shows; and BullMQ
 * doing the same shapes with its FlowProducer (flows are trees: the fan-out root has no
 * counterpart there) and with plain jobs.
 */
import type { ChildProcess } from 'node:child_process';
import { FlowProducer, QueueEvents, type FlowJob } from 'bullmq';
import { Redis } from 'ioredis';
import type { TaskInput, WorkflowInput } from '../src/client/orchestrator-client.js';
import { WorkflowRunState } from '../src/client/orchestrator-client.js';
import { INPROC_CLASS, INPROC_CONCURRENCY } from './bench-config.js';
import { stopChild } from './processes.js';
import { completed, resultKeys, startBaseline, startBaselineWorker, startOurs, startPool, type BenchContext } from './scenarios.js';
import { StreamCounter } from './stream-counter.js';

/** Steps of the wide layer and of the chain; with the root and the fan-in step, 1,000. */
const WIDE = 500;
const CHAIN = 498;

const noop = (payload: Record<string, string>): TaskInput => ({ taskClass: INPROC_CLASS, payload });

function benchWorkflow(): WorkflowInput {
  const wide = Array.from({ length: WIDE }, (_, i) => `w${i}`);
  return {
    name: 'bench',
    steps: [
      { stepId: 'root', task: noop({ n: '0' }) },
      ...wide.map((id, i) => ({ stepId: id, dependsOn: ['root'], task: noop({ n: String(i) }) })),
      { stepId: 'join', dependsOn: wide, task: noop({ n: 'join' }) },
      ...Array.from({ length: CHAIN }, (_, i) => ({ stepId: `c${i + 1}`, dependsOn: [i === 0 ? 'join' : `c${i}`], task: noop({ n: String(i) }) })),
    ],
  };
}

const elapsedMs = async (fn: () => Promise<unknown>): Promise<number> => {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
};

interface Figures {
  wholeSteps: number;
  /** The whole DAG's first run after the processes started (code not yet optimised). */
  firstWholeMs: number;
  wholeMs: number;
  wideMs: number;
  wideTaskMs: number;
  chainMsPerStep: number;
  chainTaskMsPerStep: number;
}

async function ours(ctx: BenchContext): Promise<Figures> {
  const side = await startOurs(ctx, 'workflow');
  const results = new StreamCounter(ctx.redisUrl, resultKeys(side.keys, [INPROC_CLASS]));
  let pool: ChildProcess | undefined;
  try {
    pool = await startPool(ctx, side, INPROC_CLASS, INPROC_CONCURRENCY);
    const { client } = side;
    await client.createWorkflow({
      name: 'warm',
      steps: [
        { stepId: 'a', task: noop({ a: '1' }) },
        { stepId: 'b', dependsOn: ['a'], task: noop({ b: '${steps.a.result.a}' }) },
      ],
    });
    for (let i = 0; i < 20; i++) await client.waitForRun((await client.startWorkflowRun({ name: 'warm' })).runId, { timeoutMs: 30_000 });
    const def = benchWorkflow();
    await client.createWorkflow(def);

    const wholeRun = async () => {
      let runId = '';
      const ms = await elapsedMs(async () => {
        runId = (await client.startWorkflowRun({ name: 'bench' })).runId;
        const run = await client.waitForRun(runId, { timeoutMs: 300_000 });
        if (run.state !== WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED) throw new Error(`bench run ended ${run.state}: ${run.stopReason}`);
      });
      return { ms, run: await client.getWorkflowRun(runId) };
    };
    // The first run is measured apart: like the baseline's, the measured one finds the code hot.
    const firstWholeMs = (await wholeRun()).ms;
    const { ms: wholeMs, run } = await wholeRun();
    const finished = (id: string) => run.steps.find((s) => s.stepId === id)!.finishedAtMs;

    // The same work through the task path: the wide layer as one batch, the chain one by one.
    const seen = results.count;
    const wideTaskMs = await elapsedMs(async () => {
      await client.submitTasks(Array.from({ length: WIDE }, (_, i) => noop({ n: String(i) })));
      await results.until(seen + WIDE, 120_000);
    });
    const chainTaskMs = await elapsedMs(async () => {
      for (let i = 0; i < CHAIN; i++) await client.waitForResult((await client.submitTask(noop({ n: String(i) }))).taskId, { timeoutMs: 30_000 });
    });
    return {
      wholeSteps: def.steps.length,
      firstWholeMs,
      wholeMs,
      wideMs: finished('join') - finished('root'),
      wideTaskMs,
      chainMsPerStep: (finished(`c${CHAIN}`) - finished('join')) / CHAIN,
      chainTaskMsPerStep: chainTaskMs / CHAIN,
    };
  } finally {
    await results.close();
    if (pool) await stopChild(pool);
    await side.close();
  }
}

async function bullmq(ctx: BenchContext): Promise<Figures> {
  const base = startBaseline(ctx, 'workflow');
  const connection = new Redis(ctx.redisUrl, { maxRetriesPerRequest: null });
  const eventsConnection = new Redis(ctx.redisUrl, { maxRetriesPerRequest: null });
  const flows = new FlowProducer({ connection, prefix: base.prefix });
  const events = new QueueEvents(base.queue.name, { connection: eventsConnection, prefix: base.prefix });
  let worker: ChildProcess | undefined;
  const queueName = base.queue.name;
  const leaf = (n: string): FlowJob => ({ name: 'noop', queueName, data: { n } });
  const wide = (): FlowJob => ({ ...leaf('join'), children: Array.from({ length: WIDE }, (_, i) => leaf(String(i))) });
  /** A chain of `n` jobs as a flow: each job is the parent of the one that runs before it. */
  const chain = (n: number, first: FlowJob): FlowJob => {
    let job = first;
    for (let i = 0; i < n; i++) job = { ...leaf(`c${i}`), children: [job] };
    return job;
  };
  try {
    await events.waitUntilReady();
    worker = await startBaselineWorker(ctx, base, INPROC_CONCURRENCY, 'inproc');
    const w = worker;
    let total = 0;
    const run = (jobs: number, add: () => Promise<unknown>) =>
      elapsedMs(async () => {
        total += jobs;
        await add();
        await completed(w, total, 300_000);
      });
    await run(200, () => flows.add(chain(199, leaf('warm'))));
    const firstWholeMs = await run(WIDE + 1 + CHAIN, () => flows.add(chain(CHAIN, wide())));
    const wholeMs = await run(WIDE + 1 + CHAIN, () => flows.add(chain(CHAIN, wide())));
    const wideMs = await run(WIDE + 1, () => flows.add(wide()));
    const chainMs = await run(CHAIN, () => flows.add(chain(CHAIN - 1, leaf('c'))));
    const wideTaskMs = await run(WIDE, () => base.queue.addBulk(Array.from({ length: WIDE }, (_, i) => ({ name: 'noop', data: { n: String(i) } }))));
    const chainTaskMs = await elapsedMs(async () => {
      for (let i = 0; i < CHAIN; i++) await (await base.queue.add('noop', { n: String(i) })).waitUntilFinished(events, 30_000);
    });
    return {
      wholeSteps: WIDE + 1 + CHAIN,
      firstWholeMs,
      wholeMs,
      wideMs,
      wideTaskMs,
      chainMsPerStep: chainMs / CHAIN,
      chainTaskMsPerStep: chainTaskMs / CHAIN,
    };
  } finally {
    if (worker) await stopChild(worker);
    await events.close();
    await flows.close();
    await Promise.all([connection.quit(), eventsConnection.quit()]);
    await base.close();
  }
}

/** 6. Workflows: the orchestration cost per step, against our task path and BullMQ flows. */
export async function workflow(ctx: BenchContext): Promise<void> {
  const o = await ours(ctx);
  const b = await bullmq(ctx);
  const r = ctx.report;
  r.add({
    id: 'workflow',
    scenario: `workflow of 1,000 no-op steps (${WIDE} wide + fan-in, then a ${CHAIN}-step chain), whole run`,
    unit: 'steps/s',
    ours: o.wholeSteps / (o.wholeMs / 1000),
    baseline: b.wholeSteps / (b.wholeMs / 1000),
    note: 'StartWorkflowRun -> run ended vs FlowProducer.add of the same DAG as a tree (no fan-out root) -> all completed; the second run after start',
  });
  r.add({
    id: 'workflow',
    scenario: '  the first run after start (code not yet optimised)',
    unit: 'steps/s',
    ours: o.wholeSteps / (o.firstWholeMs / 1000),
    baseline: b.wholeSteps / (b.firstWholeMs / 1000),
  });
  r.add({
    id: 'workflow',
    scenario: `  wide layer: ${WIDE} steps released at once, then the fan-in step`,
    unit: 'ms',
    ours: o.wideMs,
    baseline: b.wideMs,
    latency: true,
  });
  r.add({
    id: 'workflow',
    scenario: `  the same ${WIDE} tasks through the task path (one SubmitTasks / addBulk)`,
    unit: 'ms',
    ours: o.wideTaskMs,
    baseline: b.wideTaskMs,
    latency: true,
  });
  r.add({ id: 'workflow', scenario: '  chain: time per step', unit: 'ms', ours: o.chainMsPerStep, baseline: b.chainMsPerStep, latency: true });
  r.add({
    id: 'workflow',
    scenario: '  chain through the task path: submit, wait for the result, submit the next',
    unit: 'ms',
    ours: o.chainTaskMsPerStep,
    baseline: b.chainTaskMsPerStep,
    latency: true,
  });
  const chainOverhead = o.chainMsPerStep - o.chainTaskMsPerStep;
  const wideOverhead = (o.wideMs - o.wideTaskMs) / WIDE;
  r.note('workflow.overhead_ms_per_step.chain', chainOverhead);
  r.note('workflow.overhead_ms_per_step.wide', wideOverhead);
  console.log(`    orchestration overhead per step over our task path: chain ${chainOverhead.toFixed(2)} ms, wide layer ${wideOverhead.toFixed(3)} ms`);
}
