/**
 * Many subscribers on one front end: 1,000 open StreamEvents calls (each following one task, as a
 * UI or a waiting client would), the Redis connections they cost, the front end's RSS with them
 * open, and waitForResult's submit-to-result latency, at idle and at `rate` tasks/s with the
 * 1,000 subscribers attached. There is no plain-BullMQ counterpart: the figures are ours alone,
 * to compare between versions (README "Streams" has the figures before and after the shared
 * tailer). Then result delivery against bare grpc-js (resultDelivery below).
 */
import { OrchestratorClient } from '../src/client/orchestrator-client.js';
import { INPROC_CLASS, INPROC_CONCURRENCY } from './bench-config.js';
import { stopChild } from './processes.js';
import { startOurs, startPool, type BenchContext, type OurSide } from './scenarios.js';
import { startBareGrpc } from './grpc-baseline.js';

const SUBSCRIBERS = 1_000;
const IDLE_SAMPLES = 200;
/** Most results one StreamTaskResults call replays for the result-delivery rows. */
const REPLAYED = 2_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

async function redisClients(ctx: BenchContext): Promise<number> {
  return ((await ctx.control.client('LIST')) as string).trim().split('\n').length;
}

export async function streams(ctx: BenchContext): Promise<void> {
  const { rate, latencySeconds } = ctx.opts;
  const ours = await startOurs(ctx, 'streams');
  const pool = await startPool(ctx, ours, INPROC_CLASS, INPROC_CONCURRENCY);
  const callers = Array.from({ length: 4 }, () => new OrchestratorClient(ours.address, { defaultDeadlineMs: 60_000 }));
  const open: { cancel(): void }[] = [];
  try {
    // One waitForResult first, so whatever a front end opens on first use is open before counting.
    const warm = await ours.client.submitTask({ taskClass: INPROC_CLASS, payload: { n: 'warm' } });
    await ours.client.waitForResult(warm.taskId, { timeoutMs: 30_000 });
    const warmEvents = ours.client.streamEvents({ cursor: '0' });
    for await (const _ of warmEvents) break;

    // waitForResult at idle, one at a time.
    const idle: number[] = [];
    for (let i = 0; i < IDLE_SAMPLES; i++) {
      const t0 = performance.now();
      const { taskId } = await ours.client.submitTask({ taskClass: INPROC_CLASS, payload: { n: String(i) } });
      await ours.client.waitForResult(taskId, { timeoutMs: 30_000 });
      idle.push(performance.now() - t0);
    }

    global.gc?.();
    const connectionsBefore = await redisClients(ctx);
    const rssBefore = process.memoryUsage().rss;
    const ids = Array.from({ length: SUBSCRIBERS }, (_, i) => `${ctx.runId}-sub-${i}`);
    const delivered = new Set<string>();
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const s = callers[i % callers.length]!.streamEvents({ taskIds: [ids[i]!], types: ['succeeded'] });
      open.push(s);
      void (async () => {
        for await (const e of s) delivered.add(e.taskId);
      })().catch(() => undefined);
    }
    // Let every call reach the server and attach.
    await sleep(2_000);
    const connectionsDuring = await redisClients(ctx);
    const rssDuring = process.memoryUsage().rss;

    // waitForResult at the rate, the subscribers attached.
    const loaded: number[] = [];
    let errors = 0;
    const count = rate * latencySeconds;
    const pending: Promise<void>[] = [];
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      const wait = start + (i * 1000) / rate - performance.now();
      if (wait >= 1) await sleep(wait);
      pending.push(
        (async () => {
          const t0 = performance.now();
          const { taskId } = await ours.client.submitTask({ taskClass: INPROC_CLASS, payload: { n: String(i) } });
          await ours.client.waitForResult(taskId, { timeoutMs: 30_000 });
          loaded.push(performance.now() - t0);
        })().catch(() => void errors++),
      );
    }
    await Promise.all(pending);
    // The subscribers' own tasks: each of the 1,000 streams gets its one event.
    await ours.client.submitTasks(ids.map((taskId) => ({ taskId, taskClass: INPROC_CLASS, payload: { n: taskId } })));
    const deadline = Date.now() + 30_000;
    while (delivered.size < SUBSCRIBERS && Date.now() < deadline) await sleep(100);

    const add = (scenario: string, unit: string, value: number, note?: string) =>
      ctx.report.add({ id: 'streams', scenario, unit, ours: value, baseline: null, latency: unit === 'ms', note });
    add(
      `Redis connections added by ${SUBSCRIBERS} open streams`,
      'conn',
      connectionsDuring - connectionsBefore,
      `${connectionsBefore} -> ${connectionsDuring}`,
    );
    add(`front-end RSS added by ${SUBSCRIBERS} open streams`, 'MiB', (rssDuring - rssBefore) / 2 ** 20, 'this process: orchestrator and the clients');
    add(`waitForResult p50 at idle`, 'ms', percentile(idle, 50));
    add(`waitForResult p99 at idle`, 'ms', percentile(idle, 99));
    add(`waitForResult p50 at ${rate}/s, ${SUBSCRIBERS} streams open`, 'ms', percentile(loaded, 50));
    add(`waitForResult p99 at ${rate}/s, ${SUBSCRIBERS} streams open`, 'ms', percentile(loaded, 99));
    ctx.report.note('streams.delivered', delivered.size);
    ctx.report.note('streams.errors', errors);
    console.log(
      `    ${SUBSCRIBERS} streams: Redis connections ${connectionsBefore} -> ${connectionsDuring}, RSS +${((rssDuring - rssBefore) / 2 ** 20).toFixed(1)} MiB; ` +
        `waitForResult idle p50 ${percentile(idle, 50).toFixed(2)} p99 ${percentile(idle, 99).toFixed(2)} ms; ` +
        `at ${rate}/s p50 ${percentile(loaded, 50).toFixed(2)} p99 ${percentile(loaded, 99).toFixed(2)} ms (${errors} errors); ` +
        `${delivered.size}/${SUBSCRIBERS} subscribers got their event`,
    );
    // Figures from a run whose streams broke measure the breakage: say so where they are read.
    if (errors > 0 || delivered.size < SUBSCRIBERS) {
      console.log(
        `    WARNING: ${errors} waits failed and ${SUBSCRIBERS - delivered.size} subscribers missed their event: the figures above are not comparable`,
      );
    }
    await resultDelivery(ctx, ours);
  } finally {
    for (const s of open) s.cancel();
    for (const c of callers) c.close();
    await stopChild(pool);
    await ours.close();
  }
}

/**
 * Result delivery against the transport: StreamTaskResults replaying the class's retained
 * results from the start of the stream (a reader catching up: Redis reads, decoding, encoding,
 * flow control), against a bare grpc-js server streaming the same number of copies of one of
 * those results, with protobufjs (@grpc/proto-loader) and with our ts-proto codecs.
 */
async function resultDelivery(ctx: BenchContext, ours: OurSide): Promise<void> {
  // What the class's results stream holds (every result this run wrote): read that many, no more,
  // since a stream from the start follows on once it has caught up.
  let retained = 0;
  for (const s of ours.keys.resultStreams([INPROC_CLASS])) retained += await ctx.control.xlen(s.key);
  const count = Math.min(REPLAYED, retained);
  if (count < 500) {
    console.log(`    result delivery: only ${retained} results retained; left out`);
    return;
  }
  const replay = async (): Promise<{ n: number; first?: object; ms: number }> => {
    const t0 = performance.now();
    let n = 0;
    let first: object | undefined;
    const stream = ours.client.streamTaskResults({ taskClass: INPROC_CLASS, cursor: '0' });
    const timer = setTimeout(() => stream.cancel(), 60_000);
    try {
      for await (const r of stream) {
        first ??= r;
        if (++n === count) break;
      }
    } catch {
      // Cancelled at the deadline: n says how far it got.
    } finally {
      clearTimeout(timer);
    }
    return { n, first, ms: performance.now() - t0 };
  };
  await replay();
  const o = await replay();
  if (o.n < count || !o.first) {
    console.log(`    result delivery: ${o.n} of ${count} results replayed within 60 s; left out`);
    return;
  }
  const oursPerSecond = (o.n / o.ms) * 1000;
  for (const codecs of ['proto-loader', 'ts-proto'] as const) {
    const bare = await startBareGrpc(codecs, { results: { message: o.first, count } });
    try {
      await bare.readResults();
      const t0 = performance.now();
      const n = await bare.readResults();
      const perSecond = (n / (performance.now() - t0)) * 1000;
      ctx.report.add({
        id: `results-vs-grpc-${codecs}`,
        scenario: `StreamTaskResults replaying ${count} results vs bare grpc-js (${codecs} codecs)`,
        unit: 'results/s',
        ours: oursPerSecond,
        baseline: perSecond,
        note: `one stream read from the start of the results stream vs a grpc-js server streaming ${count} copies of one result (${codecs} codecs)`,
      });
    } finally {
      bare.close();
    }
  }
}
