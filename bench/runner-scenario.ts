/**
 * The runner executor's cost: no-op tasks through a task runner process over the runner
 * protocol (bench/runner-process.ts), against the same tasks run by the in-process `echo`
 * handler, on one orchestrator and one pool at the same concurrency, in the same run. The gap is
 * the gRPC call per attempt (and the runner process's CPU); Redis does the same work on both.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { INPROC_CLASS, INPROC_CONCURRENCY, RUNNER_CLASS } from './bench-config.js';
import { forkReady, stopChild } from './processes.js';
import { inBatches, measure, resultKeys, startOurs, startPool, tasks, type BenchContext, type Measured } from './scenarios.js';
import { StreamCounter } from './stream-counter.js';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise((resolve) => s.close(resolve));
  return port;
}

export async function runnerScenario(ctx: BenchContext): Promise<void> {
  const { batch } = ctx.opts;
  const total = Math.max(1_000, Math.round(ctx.opts.tasks / 2));
  const warm = 1_000;
  const id = 'runner';
  const port = await freePort();
  let runner: ChildProcess | undefined;
  let pool: ChildProcess | undefined;
  const ours = await startOurs(ctx, id, { runnerAddress: `127.0.0.1:${port}` });
  const results = new StreamCounter(ctx.redisUrl, resultKeys(ours.keys, [INPROC_CLASS, RUNNER_CLASS]));
  const measured: Record<string, Measured> = {};
  try {
    runner = await forkReady(join(ctx.dir, 'runner-process.js'), [String(port), String(INPROC_CONCURRENCY)], { execArgv: ctx.opts.childExecArgv });
    pool = await startPool(ctx, ours, `${INPROC_CLASS},${RUNNER_CLASS}`, INPROC_CONCURRENCY);
    let done = 0;
    for (const [name, taskClass] of [
      ['handler', INPROC_CLASS],
      ['runner', RUNNER_CLASS],
    ] as const) {
      const submit = (from: number, n: number) =>
        ours.client.submitTasks(tasks(taskClass, from, n).map((t) => (taskClass === RUNNER_CLASS ? { ...t, executor: { runner: { task: 'noop' } } } : t)));
      await inBatches(warm, batch, 0, submit);
      done += warm;
      await results.until(done, 60_000);
      measured[name] = await measure(ctx, total, { worker: pool.pid, runner: runner.pid }, async () => {
        await inBatches(total, batch, warm, submit);
        await results.until(done + total, 150_000);
      });
      done += total;
    }
  } finally {
    await results.close();
    if (pool) await stopChild(pool);
    if (runner) await stopChild(runner);
    await ours.close();
  }
  const r = measured.runner!;
  const h = measured.handler!;
  ctx.report.add({
    id,
    scenario: `no-op through a task runner, concurrency ${INPROC_CONCURRENCY}, ${total.toLocaleString('en-US')} tasks; baseline = the in-process handler`,
    unit: 'tasks/s',
    ours: r.perSecond,
    baseline: h.perSecond,
    note: 'SubmitTasks -> pool -> runner executor -> TaskRunner (own process, gRPC) vs the same pool running the echo handler in process',
  });
  const fmt = (m: Measured) =>
    Object.entries(m.cpuUsPerTask)
      .map(([k, v]) => `${k} ${Math.round(v)}`)
      .join(', ');
  console.log(`    CPU µs per task: through the runner ${fmt(r)}; in-process handler ${fmt(h)}`);
  for (const [side, m] of Object.entries(measured)) {
    for (const [proc, us] of Object.entries(m.cpuUsPerTask)) ctx.report.note(`${id}.${side}.cpu_us_per_task.${proc}`, us);
  }
}
