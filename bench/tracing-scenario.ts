/**
 * What tracing costs: the in-process end-to-end run (SubmitTasks -> pool -> results stream)
 * with tracing off and with tracing on, exporting every span over OTLP/HTTP to a local sink,
 * alternated off, on, off, on so that drift on a shared machine falls on both sides alike.
 *
 * Off is the default and the path every other scenario measures: nothing is wrapped, nothing is
 * carried in the job (src/tracing/tracing.ts, workers/attempt-tracing.ts), so the two off runs
 * differ only by the machine's noise, which is printed next to the on/off ratio.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { INPROC_CLASS, INPROC_CONCURRENCY } from './bench-config.js';
import { stopChild } from './processes.js';
import { inBatches, measure, resultKeys, startOurs, startPool, tasks, type BenchContext, type Measured } from './scenarios.js';
import { StreamCounter } from './stream-counter.js';

/** An OTLP/HTTP receiver that reads and drops what it is sent, counting spans (their `"spanId"` fields) and bytes. */
class OtlpSink {
  spans = 0;
  bytes = 0;
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      req.on('data', (c: Buffer) => {
        this.bytes += c.length;
        // A span's own id; "parentSpanId" does not match with the quote in front.
        for (let at = c.indexOf('"spanId"'); at >= 0; at = c.indexOf('"spanId"', at + 1)) this.spans++;
      });
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const addr = this.server.address();
    return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function oneRun(ctx: BenchContext, id: string, total: number, endpoint: string | undefined): Promise<Measured> {
  const warm = 1_000;
  const { batch } = ctx.opts;
  const ours = await startOurs(ctx, id, { tracingEndpoint: endpoint });
  const results = new StreamCounter(ctx.redisUrl, resultKeys(ours.keys, [INPROC_CLASS]));
  let pool: ChildProcess | undefined;
  try {
    pool = await startPool(ctx, ours, INPROC_CLASS, INPROC_CONCURRENCY);
    const submit = (from: number, n: number) => ours.client.submitTasks(tasks(INPROC_CLASS, from, n));
    await inBatches(warm, batch, 0, submit);
    await results.until(warm, 60_000);
    return await measure(ctx, total, { worker: pool.pid }, async () => {
      await inBatches(total, batch, warm, submit);
      await results.until(warm + total, 150_000);
    });
  } finally {
    await results.close();
    if (pool) await stopChild(pool);
    await ours.close();
  }
}

export async function tracingCost(ctx: BenchContext): Promise<void> {
  const total = ctx.opts.tasks;
  const sink = new OtlpSink();
  const endpoint = await sink.start();
  const off: Measured[] = [];
  const on: Measured[] = [];
  try {
    for (const [i, traced] of [false, true, false, true].entries()) {
      const m = await oneRun(ctx, `tracing-${i}`, total, traced ? endpoint : undefined);
      (traced ? on : off).push(m);
      const cpu = Object.entries(m.cpuUsPerTask)
        .map(([k, v]) => `${k} ${Math.round(v)}`)
        .join(', ');
      console.log(`    tracing ${traced ? 'on ' : 'off'}: ${Math.round(m.perSecond).toLocaleString('en-US')} tasks/s; CPU µs per task: ${cpu}`);
    }
  } finally {
    await sink.close();
  }
  const mean = (ms: Measured[]) => ms.reduce((s, m) => s + m.perSecond, 0) / ms.length;
  const [a, b] = off.map((m) => m.perSecond) as [number, number];
  console.log(
    `    off runs differ by ${((Math.abs(a - b) / Math.max(a, b)) * 100).toFixed(1)}% (the noise); ` +
      `the sink took ${sink.spans.toLocaleString('en-US')} spans, ${(sink.bytes / 2 ** 20).toFixed(1)} MiB`,
  );
  ctx.report.add({
    id: 'tracing',
    scenario: `end-to-end no-op in-process, tracing on (OTLP to a local sink) vs off, ${total.toLocaleString('en-US')} tasks, mean of 2 alternated runs each`,
    unit: 'tasks/s',
    ours: mean(on),
    baseline: mean(off),
    note: 'baseline here is Orchestrator with tracing off (the default), not BullMQ',
  });
  ctx.report.note('tracing.spans_received', sink.spans);
  ctx.report.note('tracing.off_runs_spread', Math.abs(a - b) / Math.max(a, b));
  // CPU per task moves less than throughput on a busy machine: the steadier measure of the cost.
  const cpuLine: string[] = [];
  for (const [side, ms] of [
    ['off', off],
    ['on', on],
  ] as const) {
    const parts: string[] = [];
    for (const proc of Object.keys(ms[0]!.cpuUsPerTask)) {
      const us = ms.reduce((s, m) => s + m.cpuUsPerTask[proc]!, 0) / ms.length;
      ctx.report.note(`tracing.${side}.cpu_us_per_task.${proc}`, us);
      parts.push(`${proc} ${Math.round(us)}`);
    }
    cpuLine.push(`${side}: ${parts.join(', ')}`);
  }
  console.log(`    mean CPU µs per task, ${cpuLine.join('; ')}`);
}
