/**
 * The measured scenarios, each ours against plain BullMQ on the same Redis, one after the other.
 *
 * Isolation: every scenario side gets key prefixes of its own, deleted when it ends (no FLUSHALL,
 * so a REDIS_URL that holds other data survives). Our side runs a fresh Orchestrator (gRPC server
 * and its Redis connections) in this process and, where tasks run, one WorkerPool in a child
 * process (pool-process.ts); the baseline runs its Queue in this process and one plain BullMQ
 * Worker in a child process (baseline-worker.ts), with the same concurrency and execution mode.
 * Each timed run follows a short warm-up on the same side.
 */
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { TaskClassOptions } from '../queues/task-classes.js';
import { OrchestratorClient, type TaskInput } from '../src/client/orchestrator-client.js';
import { createLogger } from '../src/logging/logger.js';
import { Orchestrator } from '../src/orchestrator.js';
import { jobOptionsForAdd } from '../src/store/codecs/job-data.js';
import type { Keys } from '../src/store/keys.js';
import { keysFor } from '../src/store/keys-for.js';
import { taskIndexBuckets } from '../src/store/tasks/read-task-index.js';
import { BULL_EVENTS_MAXLEN } from '../src/tasks/task-queues.js';
import { resolveTask } from '../src/tasks/task-spec.js';
import { benchConfig, INPROC_CLASS, INPROC_CONCURRENCY, SANDBOX_CLASS, SANDBOX_CONCURRENCY } from './bench-config.js';
import { forkReady, peakRssMb, processTree, stopChild, treeCpuMs, waitMessage } from './processes.js';
import type { Report } from './report.js';
import { printScriptStats, startScriptStats } from './script-stats.js';
import { StreamCounter } from './stream-counter.js';
import { connectBareGrpc, startBareGrpc } from './grpc-baseline.js';

export interface BenchOptions {
  /** Tasks per timed run: enqueue and in-process end-to-end. */
  tasks: number;
  /** Tasks of the sandboxed end-to-end run. */
  sandboxTasks: number;
  /** Calls of the unary run. */
  unaryTasks: number;
  /** Tasks per SubmitTasks / addBulk call. */
  batch: number;
  /** Unary calls in flight at once. */
  inFlight: number;
  /**
   * Latency run: tasks per second, seconds measured, and seconds at that rate before them (a
   * process just started runs unoptimised code: measured and reported apart, not in the figure).
   */
  rate: number;
  latencySeconds: number;
  latencyWarmupSeconds: number;
  /** Tasks queued for the memory figure. */
  memoryTasks: number;
  /** Node flags for the worker processes (--cpu-prof ...). */
  childExecArgv: string[];
  /** Print Redis's per-command time of each timed run (resets Redis's INFO commandstats). */
  redisStats: boolean;
  /** Print Redis's time per script of each timed run (SLOWLOG at 0: slows the run; bench/script-stats.ts). */
  scriptStats: boolean;
  /** redis.waitReplicas of our orchestrator (--wait-replicas; with --replica for a replica to wait for). */
  waitReplicas: number;
  /** Cluster scenario: the master counts of its layouts, one cluster each (--cluster). */
  clusterMasters: number[];
  /** Cluster scenario: tasks per timed run, spread over its four classes (--cluster-tasks). */
  clusterTasks: number;
}

export interface BenchContext {
  redisUrl: string;
  /** For INFO, MEMORY USAGE and key clean-up; never given to BullMQ. */
  control: Redis;
  report: Report;
  opts: BenchOptions;
  /** Unique per run: the start of every key prefix. */
  runId: string;
  /** dist/bench, where the child entry files are. */
  dir: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const payload = (i: number) => ({ n: String(i) });
export const tasks = (taskClass: string, from: number, n: number): TaskInput[] =>
  Array.from({ length: n }, (_, k) => ({ taskClass, payload: payload(from + k) }));
const jobs = (from: number, n: number) => Array.from({ length: n }, (_, k) => ({ name: 'noop', data: payload(from + k) }));

let benchClasses: ReadonlyMap<string, TaskClassOptions> | undefined;

/** Jobs exactly as our submitter (src/tasks/submitter.ts) makes them from a default task. */
function jobsLikeOurs(ctx: BenchContext, taskClass: string, from: number, n: number) {
  const classes = (benchClasses ??= benchConfig({ redisUrl: ctx.redisUrl, prefix: 'x' }).classes);
  return Array.from({ length: n }, (_, k) => {
    const t = resolveTask({ taskClass, payload: payload(from + k) }, { classes, maxPayloadBytes: 1 << 20, field: 'task' });
    return { name: t.jobName, data: t.data, opts: jobOptionsForAdd(t) };
  });
}

/** The keys of the results streams of `classes`: the one stream of a single Redis, each class's own on a cluster. */
export function resultKeys(keys: Keys, classes: readonly string[]): string[] {
  return keys.resultStreams(classes).map((s) => s.key);
}

/** `total` items in calls of `batch`, one call at a time, numbered from `from`. */
export async function inBatches(total: number, batch: number, from: number, call: (from: number, n: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < total; i += batch) await call(from + i, Math.min(batch, total - i));
}

/** `total` calls with `width` of them in flight at any time, numbered from `from`. */
async function inFlight(total: number, width: number, from: number, call: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < total) await call(from + next++);
    }),
  );
}

async function deleteKeys(redis: Redis, patterns: string[]): Promise<void> {
  for (const match of patterns) {
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1_000);
      cursor = next;
      // DEL, not UNLINK: memory is measured right after, so it must be freed by then.
      if (found.length) await redis.del(...found);
    } while (cursor !== '0');
  }
}

async function redisCpuMs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
}

/** Redis time per command since the last CONFIG RESETSTAT, in µs per task, largest first. */
async function commandStats(redis: Redis, tasks: number): Promise<[string, number, number][]> {
  const info = await redis.info('commandstats');
  const out: [string, number, number][] = [];
  for (const m of info.matchAll(/^cmdstat_(\S+):calls=(\d+),usec=(\d+)/gm)) {
    if (m[1] !== 'info' && !m[1]!.startsWith('config')) out.push([m[1]!, Number(m[3]) / tasks, Number(m[2]) / tasks]);
  }
  return out.sort((a, b) => b[1] - a[1]);
}

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))![1]);
}

async function memoryUsage(redis: Redis, key: string): Promise<number> {
  return Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
}

/** MEMORY USAGE of several keys, summed (one pipeline). */
async function memoryUsageOf(redis: Redis, keys: readonly string[]): Promise<number> {
  const pipe = redis.pipeline();
  for (const k of keys) pipe.call('MEMORY', 'USAGE', k, 'SAMPLES', '0');
  let sum = 0;
  for (const [err, v] of (await pipe.exec()) ?? []) if (!err) sum += Number(v ?? 0);
  return sum;
}

/** Bytes of a BullMQ queue's wait list and prioritized set together. */
async function queueBytes(redis: Redis, queueKeyPrefix: string): Promise<number> {
  return (await memoryUsage(redis, `${queueKeyPrefix}:wait`)) + (await memoryUsage(redis, `${queueKeyPrefix}:prioritized`));
}

export interface Measured {
  perSecond: number;
  seconds: number;
  /** CPU µs per task: "driver" is this process, "redis" the server, others as named. */
  cpuUsPerTask: Record<string, number>;
}

/** Times `fn` over `tasks` tasks, with the CPU each process spent on them. */
export async function measure(ctx: BenchContext, tasks: number, pids: Record<string, number | undefined>, fn: () => Promise<void>): Promise<Measured> {
  const procs = Object.entries(pids).filter((e): e is [string, number] => e[1] !== undefined);
  const redis0 = await redisCpuMs(ctx.control);
  const waits0 = ctx.opts.waitReplicas > 0 ? await waitCalls(ctx.control) : 0;
  const procs0 = procs.map(([, pid]) => treeCpuMs(pid));
  if (ctx.opts.redisStats) await ctx.control.config('RESETSTAT');
  if (ctx.opts.scriptStats) await startScriptStats(ctx.control);
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const cpuUsPerTask: Record<string, number> = {
    driver: (self.user + self.system) / tasks,
    redis: ((await redisCpuMs(ctx.control)) - redis0) * (1000 / tasks),
  };
  procs.forEach(([name, pid], i) => (cpuUsPerTask[name] = (treeCpuMs(pid) - procs0[i]!) * (1000 / tasks)));
  if (ctx.opts.scriptStats) await printScriptStats(ctx.control, tasks);
  // Both sides' runs count; only ours sends WAIT (the group commit's share: src/redis/replica-wait.ts).
  if (ctx.opts.waitReplicas > 0) console.log(`    WAIT calls per task: ${(((await waitCalls(ctx.control)) - waits0) / tasks).toFixed(4)}`);
  const top = ctx.opts.redisStats ? (await commandStats(ctx.control, tasks)).slice(0, 8) : [];
  if (top.length) {
    // Commands a script runs count both on their own line and inside the script's.
    console.log(`    Redis µs per task (calls per task): ${top.map(([c, us, n]) => `${c} ${us.toFixed(1)} (${n.toFixed(2)})`).join(', ')}`);
  }
  return { perSecond: tasks / seconds, seconds, cpuUsPerTask };
}

/** The WAIT calls Redis has served (INFO commandstats). */
async function waitCalls(control: Redis): Promise<number> {
  return Number(/^cmdstat_wait:calls=(\d+)/m.exec(await control.info('commandstats'))?.[1] ?? 0);
}

function noteCpu(ctx: BenchContext, id: string, side: string, m: Measured): void {
  for (const [proc, us] of Object.entries(m.cpuUsPerTask)) ctx.report.note(`${id}.${side}.cpu_us_per_task.${proc}`, us);
}

/** "driver 120, redis 60, ...": CPU µs per task by process. */
const cpuText = (m: Measured) =>
  Object.entries(m.cpuUsPerTask)
    .map(([k, v]) => `${k} ${Math.round(v)}`)
    .join(', ');

function printCpu(ours: Measured, base: Measured): void {
  console.log(`    CPU µs per task: ours ${cpuText(ours)}; baseline ${cpuText(base)}`);
}

/** Our side of one scenario: an Orchestrator over fresh prefixes, and a client for it. */
export interface OurSide {
  prefix: string;
  /** The orchestrator's gRPC address, for more clients. */
  address: string;
  keys: Keys;
  client: OrchestratorClient;
  /** Where its processes export spans (the tracing scenario); none: tracing off, the default. */
  tracingEndpoint?: string;
  /** The runner scenario's task runner, host:port. */
  runnerAddress?: string;
  close(): Promise<void>;
}

export async function startOurs(
  ctx: BenchContext,
  scenario: string,
  opts: { tracingEndpoint?: string; runnerAddress?: string; ownProcess?: boolean } = {},
): Promise<OurSide> {
  const { tracingEndpoint, runnerAddress } = opts;
  const prefix = `${ctx.runId}-${scenario}`;
  /** Our side on the front end at `port`, closed with `stop` and its keys deleted. */
  const side = (port: number, stop: () => Promise<unknown>): OurSide => {
    const address = `127.0.0.1:${port}`;
    const client = new OrchestratorClient(address, { defaultDeadlineMs: 120_000 });
    return {
      prefix,
      address,
      keys: keysFor(prefix, ctx.redisUrl),
      client,
      tracingEndpoint,
      runnerAddress,
      close: async () => {
        client.close();
        await stop();
        await deleteKeys(ctx.control, [`{${prefix}}:*`, `${prefix}:*`]);
      },
    };
  };
  if (opts.ownProcess) {
    // The front end in a process of its own (bench/orchestrator-process.ts), its client here.
    let port = 0;
    const child = await forkReady(join(ctx.dir, 'orchestrator-process.js'), [ctx.redisUrl, prefix], {
      execArgv: ctx.opts.childExecArgv,
      onReady: (m) => (port = Number(m.port)),
    });
    return side(port, () => stopChild(child));
  }
  const config = benchConfig({ redisUrl: ctx.redisUrl, prefix, tracingEndpoint, runnerAddress, waitReplicas: ctx.opts.waitReplicas });
  const orchestrator = new Orchestrator({ config, redisUrl: ctx.redisUrl, logger: createLogger('warn', { process: 'bench-orchestrator' }) });
  await orchestrator.start();
  return side(orchestrator.grpcPort, () => orchestrator.close(1_000));
}

/** The baseline's side of one scenario: a plain BullMQ Queue on a connection of its own. */
export interface BaselineSide {
  prefix: string;
  queue: Queue;
  close(): Promise<void>;
}

/**
 * `like-ours`: the Queue as TaskQueues (src/tasks/task-queues.ts) makes ours, i.e. with BullMQ's
 * own events stream kept as short.
 */
export function startBaseline(ctx: BenchContext, scenario: string, variant: 'plain' | 'like-ours' = 'plain'): BaselineSide {
  const prefix = `${ctx.runId}-${scenario}-bull`;
  const connection = new Redis(ctx.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(scenario, { connection, prefix, ...(variant === 'like-ours' ? { streams: { events: { maxLen: BULL_EVENTS_MAXLEN } } } : {}) });
  return {
    prefix,
    queue,
    close: async () => {
      await queue.close();
      await connection.quit();
      await deleteKeys(ctx.control, [`${prefix}:*`]);
    },
  };
}

const poolFile = (ctx: BenchContext) => join(ctx.dir, 'pool-process.js');
const baselineWorkerFile = (ctx: BenchContext) => join(ctx.dir, 'baseline-worker.js');

export function startPool(ctx: BenchContext, ours: OurSide, taskClass: string, concurrency: number): Promise<ChildProcess> {
  const args = [ctx.redisUrl, ours.prefix, taskClass, String(concurrency), ours.tracingEndpoint ?? '', '', ours.runnerAddress ?? ''];
  return forkReady(poolFile(ctx), args, { execArgv: ctx.opts.childExecArgv });
}

export function startBaselineWorker(
  ctx: BenchContext,
  base: BaselineSide,
  concurrency: number,
  mode: 'inproc' | 'sandbox',
  variant: 'plain' | 'like-ours' = 'plain',
): Promise<ChildProcess> {
  return forkReady(baselineWorkerFile(ctx), [ctx.redisUrl, base.prefix, base.queue.name, String(concurrency), mode, variant], {
    execArgv: ctx.opts.childExecArgv,
  });
}

/** Resolves once the baseline Worker has completed `n` jobs in total (its `completed` events). */
export async function completed(worker: ChildProcess, n: number, timeoutMs: number): Promise<void> {
  const reached = waitMessage(worker, (m) => ((m as { reached?: number }).reached ?? -1) >= n, timeoutMs, `${n} completed jobs`);
  worker.send({ waitFor: n });
  await reached;
}

// ---------------------------------------------------------------------------------------------

/** 1. Enqueue rate: SubmitTasks in batches vs Queue.addBulk with the same batches. */
export async function enqueue(ctx: BenchContext): Promise<void> {
  const { tasks: total, batch } = ctx.opts;
  // Both sides at once, measured in turns (interleaved()).
  const ours = await startOurs(ctx, 'enqueue');
  const base = startBaseline(ctx, 'enqueue');
  let m: Record<'ours' | 'bullmq', Measured>;
  try {
    const submit = (from: number, n: number) => ours.client.submitTasks(tasks(INPROC_CLASS, from, n));
    const add = (from: number, n: number) => base.queue.addBulk(jobs(from, n));
    await inBatches(batch, batch, 0, submit);
    await inBatches(batch, batch, 0, add);
    m = await interleaved(ctx, total, {
      ours: (from, n) => inBatches(n, batch, batch + from, submit),
      bullmq: (from, n) => inBatches(n, batch, batch + from, add),
    });
  } finally {
    await base.close();
    await ours.close();
  }
  const { ours: o, bullmq: b } = m;
  ctx.report.add({
    id: 'enqueue',
    scenario: `enqueue, ${total.toLocaleString('en-US')} in batches of ${batch.toLocaleString('en-US')}`,
    unit: 'tasks/s',
    ours: o.perSecond,
    baseline: b.perSecond,
    note: 'SubmitTasks (gRPC) vs Queue.addBulk',
  });
  printCpu(o, b);
  noteCpu(ctx, 'enqueue', 'ours', o);
  noteCpu(ctx, 'enqueue', 'baseline', b);
}

/** Segments each side of an interleaved comparison is measured in (enqueue, unary). */
const INTERLEAVED_SEGMENTS = 5;

/**
 * Measures each of `runs` over `total` tasks in INTERLEAVED_SEGMENTS segments, taking turns (the
 * order rotating each round), and sums each side's segments: a machine whose speed drifts over
 * seconds (a shared host) slows every side alike, where one side measured after the other
 * could meet another machine. `run(from, n)` submits tasks from..from+n-1.
 */
async function interleaved<K extends string>(
  ctx: BenchContext,
  total: number,
  runs: Record<K, (from: number, n: number) => Promise<void>>,
): Promise<Record<K, Measured>> {
  const names = Object.keys(runs) as K[];
  const parts = new Map<K, Measured[]>(names.map((k) => [k, []]));
  const per = Math.ceil(total / INTERLEAVED_SEGMENTS);
  for (let seg = 0; seg < INTERLEAVED_SEGMENTS; seg++) {
    const n = Math.min(per, total - seg * per);
    for (let j = 0; j < names.length; j++) {
      const name = names[(seg + j) % names.length]!;
      parts.get(name)!.push(await measure(ctx, n, {}, () => runs[name](seg * per, n)));
    }
  }
  const out = {} as Record<K, Measured>;
  for (const [name, ms] of parts) {
    const seconds = ms.reduce((a, m) => a + m.seconds, 0);
    const tasks = ms.reduce((a, m) => a + m.perSecond * m.seconds, 0);
    const cpuUsPerTask: Record<string, number> = {};
    for (const m of ms) for (const [k, v] of Object.entries(m.cpuUsPerTask)) cpuUsPerTask[k] = (cpuUsPerTask[k] ?? 0) + (v * m.perSecond * m.seconds) / tasks;
    out[name] = { perSecond: tasks / seconds, seconds, cpuUsPerTask };
  }
  return out;
}

/** 2. Unary submission with many calls in flight: SubmitTask vs Queue.add. */
export async function unary(ctx: BenchContext): Promise<void> {
  const { unaryTasks: total, inFlight: width } = ctx.opts;
  const warm = Math.min(1_000, total);
  // Unary SubmitTask and the transport's own rate: the same calls, 64 in flight from this
  // process, against a grpc-js server in this process whose SubmitTask answers at once, with
  // protobufjs codecs loaded by @grpc/proto-loader and with our generated ts-proto codecs. All
  // three serve at once and are measured in turns (interleaved()).
  const ours = await startOurs(ctx, 'unary');
  const bareLoader = await startBareGrpc('proto-loader');
  const bareTs = await startBareGrpc('ts-proto');
  let m: Record<'ours' | 'proto-loader' | 'ts-proto', Measured>;
  try {
    const calls = {
      ours: (i: number) => ours.client.submitTask({ taskClass: INPROC_CLASS, payload: payload(i) }),
      'proto-loader': (i: number) => bareLoader.submit({ taskClass: INPROC_CLASS, payload: payload(i) }),
      'ts-proto': (i: number) => bareTs.submit({ taskClass: INPROC_CLASS, payload: payload(i) }),
    };
    for (const call of Object.values(calls)) await inFlight(warm, width, 0, call);
    m = await interleaved(ctx, total, {
      ours: (from, n) => inFlight(n, width, warm + from, calls.ours),
      'proto-loader': (from, n) => inFlight(n, width, warm + from, calls['proto-loader']),
      'ts-proto': (from, n) => inFlight(n, width, warm + from, calls['ts-proto']),
    });
  } finally {
    bareLoader.close();
    bareTs.close();
    await ours.close();
  }
  const o = m.ours;
  // The same tasks over one SubmitTaskStream call, as many waiting for their answers at a time.
  const oursStream = await startOurs(ctx, 'unary-stream');
  let os: Measured;
  try {
    const stream = oursStream.client.submitStream();
    const submit = (i: number) => stream.submit({ taskClass: INPROC_CLASS, payload: payload(i) });
    await inFlight(warm, width, 0, submit);
    os = await measure(ctx, total, {}, () => inFlight(total, width, warm, submit));
    await stream.close();
  } finally {
    await oursStream.close();
  }
  const base = startBaseline(ctx, 'unary');
  let b: Measured;
  try {
    const add = (i: number) => base.queue.add('noop', payload(i));
    await inFlight(warm, width, 0, add);
    b = await measure(ctx, total, {}, () => inFlight(total, width, warm, add));
  } finally {
    await base.close();
  }
  ctx.report.add({
    id: 'unary',
    scenario: `unary submit, ${width} in flight`,
    unit: 'tasks/s',
    ours: o.perSecond,
    baseline: b.perSecond,
    note: 'SubmitTask (gRPC) vs Queue.add',
  });
  ctx.report.add({
    id: 'unary-stream',
    scenario: `  the same over one SubmitTaskStream call, ${width} in flight`,
    unit: 'tasks/s',
    ours: os.perSecond,
    baseline: b.perSecond,
    note: 'each task a message of one long-lived call, answered on it, vs Queue.add',
  });
  printCpu(o, b);
  console.log(`    CPU µs per task over one SubmitTaskStream call: ${cpuText(os)}`);
  noteCpu(ctx, 'unary', 'ours', o);
  noteCpu(ctx, 'unary', 'ours_stream', os);
  noteCpu(ctx, 'unary', 'baseline', b);

  for (const codecs of ['proto-loader', 'ts-proto'] as const) {
    const n = m[codecs];
    const key = codecs === 'ts-proto' ? 'grpc_only' : 'grpc_only_proto_loader';
    ctx.report.note(`unary.${key}.calls_per_s`, n.perSecond);
    ctx.report.note(`unary.${key}.cpu_us_per_call`, n.cpuUsPerTask.driver!);
    ctx.report.add({
      id: `unary-vs-grpc-${codecs}`,
      scenario: `unary submit vs bare grpc-js (${codecs} codecs), ${width} in flight`,
      unit: 'calls/s',
      ours: o.perSecond,
      baseline: n.perSecond,
      note: `SubmitTask vs a grpc-js server in this process answering at once (${codecs} codecs), measured in turns with it: ${Math.round(n.cpuUsPerTask.driver!)} µs CPU per call`,
    });
    if (codecs === 'ts-proto')
      ctx.report.add({
        id: 'unary-stream-vs-grpc',
        scenario: `submit over one stream vs bare grpc-js unary (${codecs} codecs), ${width} in flight`,
        unit: 'calls/s',
        ours: os.perSecond,
        baseline: n.perSecond,
        note: 'SubmitTaskStream (a message per task) vs a grpc-js server in this process answering unary calls at once',
      });
  }
}

/** Plain BullMQ's end-to-end run: addBulk in batches, one Worker process, its completed events. */
async function baselineEndToEnd(
  ctx: BenchContext,
  id: string,
  mode: 'inproc' | 'sandbox',
  concurrency: number,
  total: number,
  warm: number,
  variant: 'plain' | 'like-ours',
): Promise<Measured> {
  const { batch } = ctx.opts;
  const side = variant === 'plain' ? 'baseline' : 'like_ours';
  const base = startBaseline(ctx, variant === 'plain' ? id : `${id}-like-ours`, variant);
  let worker: ChildProcess | undefined;
  try {
    worker = await startBaselineWorker(ctx, base, concurrency, mode, variant);
    const taskClass = mode === 'inproc' ? INPROC_CLASS : SANDBOX_CLASS;
    const add = (from: number, n: number) => base.queue.addBulk(variant === 'plain' ? jobs(from, n) : jobsLikeOurs(ctx, taskClass, from, n));
    await inBatches(warm, batch, 0, add);
    await completed(worker, warm, 60_000);
    const w = worker;
    const m = await measure(ctx, total, { worker: worker.pid }, async () => {
      await inBatches(total, batch, warm, add);
      await completed(w, warm + total, 150_000);
    });
    const tree = processTree(worker.pid!);
    ctx.report.note(`${id}.${side}.worker_peak_rss_mb`, peakRssMb(worker.pid!));
    ctx.report.note(`${id}.${side}.children`, tree.length - 1);
    ctx.report.note(
      `${id}.${side}.children_peak_rss_mb`,
      tree.slice(1).reduce((s, p) => s + peakRssMb(p), 0),
    );
    noteCpu(ctx, id, side, m);
    return m;
  } finally {
    if (worker) await stopChild(worker);
    await base.close();
  }
}

/** 3. End-to-end no-op throughput: submit, run, see the completion. */
export async function endToEnd(ctx: BenchContext, mode: 'inproc' | 'sandbox'): Promise<void> {
  const { batch } = ctx.opts;
  const taskClass = mode === 'inproc' ? INPROC_CLASS : SANDBOX_CLASS;
  const concurrency = mode === 'inproc' ? INPROC_CONCURRENCY : SANDBOX_CONCURRENCY;
  const total = mode === 'inproc' ? ctx.opts.tasks : ctx.opts.sandboxTasks;
  const warm = 1_000;
  const id = `e2e-${mode}`;
  const label = `end-to-end no-op, ${mode === 'inproc' ? 'in-process' : 'sandboxed'}, concurrency ${concurrency}, ${total.toLocaleString('en-US')} tasks`;

  const ours = await startOurs(ctx, id);
  const results = new StreamCounter(ctx.redisUrl, resultKeys(ours.keys, [taskClass]));
  let pool: ChildProcess | undefined;
  let o: Measured;
  try {
    pool = await startPool(ctx, ours, taskClass, concurrency);
    const submit = (from: number, n: number) => ours.client.submitTasks(tasks(taskClass, from, n));
    await inBatches(warm, batch, 0, submit);
    await results.until(warm, 60_000);
    o = await measure(ctx, total, { worker: pool.pid }, async () => {
      await inBatches(total, batch, warm, submit);
      await results.until(warm + total, 150_000);
    });
    const tree = processTree(pool.pid!);
    ctx.report.note(`${id}.ours.worker_peak_rss_mb`, peakRssMb(pool.pid!));
    ctx.report.note(`${id}.ours.children`, tree.length - 1);
    ctx.report.note(
      `${id}.ours.children_peak_rss_mb`,
      tree.slice(1).reduce((s, p) => s + peakRssMb(p), 0),
    );
    noteCpu(ctx, id, 'ours', o);
  } finally {
    await results.close();
    if (pool) await stopChild(pool);
    await ours.close();
  }

  const b = await baselineEndToEnd(ctx, id, mode, concurrency, total, warm, 'plain');
  ctx.report.add({
    id,
    scenario: label,
    unit: 'tasks/s',
    ours: o.perSecond,
    baseline: b.perSecond,
    note: 'SubmitTasks -> WorkerPool -> results stream vs addBulk -> Worker -> completed events',
  });
  printCpu(o, b);

  // For scale: BullMQ alone, configured as we configure it. The gap between this and plain
  // BullMQ is what our job and worker options cost; the rest of the gap is our own code.
  const l = await baselineEndToEnd(ctx, id, mode, concurrency, total, warm, 'like-ours');
  ctx.report.add({
    id,
    scenario: `  the same, baseline = BullMQ with our job and worker options`,
    unit: 'tasks/s',
    ours: o.perSecond,
    baseline: l.perSecond,
    note: 'plain BullMQ given our job ids, priority, attempts/backoff, job data envelope, retention and worker name',
  });
  printCpu(o, l);
}

/**
 * Where our submit->result time goes, from the task events' timestamps (ms; the claim's is
 * Redis's clock, the pool's its own, on one machine here): the call until the claim, the claim
 * until the pool's start, the run, and the result's way back to the client. Medians over all
 * tasks, and over the slowest 1% (what the p99 is made of).
 */
async function latencySegments(ctx: BenchContext, ours: OurSide, t: LatencyTracker, layout: string, layoutLabel: string): Promise<void> {
  const at = new Map<string, Record<string, number>>();
  // Every events stream of the class: one on a single Redis, the class's own (and the workflow
  // events') on a cluster. A task's events are all in one of them.
  const entries: [string, string[]][] = [];
  for (const s of ours.keys.eventStreams([INPROC_CLASS])) entries.push(...((await ctx.control.xrange(s.key, '-', '+')) as [string, string[]][]));
  for (const [, f] of entries) {
    const e: Record<string, string> = {};
    for (let i = 0; i < f.length; i += 2) e[f[i]!] = f[i + 1]!;
    if (!t.wall.has(e.task_id!)) continue;
    const rec = at.get(e.task_id!) ?? {};
    rec[e.type!] = Number(e.at);
    at.set(e.task_id!, rec);
  }
  const all = [...t.wall].filter(([, w]) => w.arrived !== undefined);
  const total = ([, w]: (typeof all)[number]) => w.arrived! - w.sent;
  const slowest = [...all].sort((a, b) => total(b) - total(a)).slice(0, Math.max(1, Math.ceil(all.length / 100)));
  const segments = (tasks: typeof all) => {
    const median = (f: (w: { sent: number; arrived?: number }, e: Record<string, number>) => number) => {
      const v = tasks.map(([id, w]) => f(w, at.get(id) ?? {})).filter(Number.isFinite);
      return v.sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? NaN;
    };
    return {
      call_to_claim: median((w, e) => e.submitted! - w.sent),
      claim_to_start: median((_, e) => e.started! - e.submitted!),
      start_to_finish: median((_, e) => e.succeeded! - e.started!),
      finish_to_client: median((w, e) => w.arrived! - e.succeeded!),
    };
  };
  for (const [label, key, tasks] of [
    ['medians', 'segment_p50_ms', all],
    ['medians over the slowest 1%', 'slowest_1pct_segment_p50_ms', slowest],
  ] as const) {
    const seg = segments(tasks);
    for (const [k, v] of Object.entries(seg)) ctx.report.note(`latency.${layout}.${key}.${k}`, v);
    console.log(
      `    ours (${layoutLabel}), ${label} from event timestamps (ms): call->claim ${seg.call_to_claim}, claim->pool start ${seg.claim_to_start}, start->finish ${seg.start_to_finish}, finish->client ${seg.finish_to_client}`,
    );
  }
}

class LatencyTracker {
  readonly samples: number[] = [];
  /** Wall-clock (ms) of each measured task's submit and result, to line up with event timestamps. */
  readonly wall = new Map<string, { sent: number; arrived?: number }>();
  errors = 0;
  private expected = 0;
  private readonly sent = new Map<string, number>();
  private wake?: () => void;

  /** Starts `call`; the task's time counts from just before it when `measured`. */
  submit(id: string, measured: boolean, call: () => Promise<unknown>): void {
    if (measured) {
      this.expected++;
      this.sent.set(id, performance.now());
      this.wall.set(id, { sent: Date.now() });
    }
    call().catch(() => {
      if (this.sent.delete(id)) {
        this.errors++;
        this.check();
      }
    });
  }

  arrived(id: string): void {
    const t0 = this.sent.get(id);
    if (t0 === undefined) return;
    this.samples.push(performance.now() - t0);
    this.wall.get(id)!.arrived = Date.now();
    this.sent.delete(id);
    this.check();
  }

  private check(): void {
    if (this.samples.length + this.errors >= this.expected) this.wake?.();
  }

  /** Resolves once every measured task has its result (or failed to submit). */
  async done(timeoutMs: number): Promise<void> {
    if (this.samples.length + this.errors >= this.expected) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out: ${this.samples.length} of ${this.expected} results after ${timeoutMs} ms`)), timeoutMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  percentile(p: number): number {
    const sorted = [...this.samples].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
  }
}

/** Tasks of the latency run's idle phase: one at a time, each result's delivery measured. */
const IDLE_DELIVERIES = 200;

/** Resolves once `cond()` holds (checked every millisecond), or fails naming `what` after `timeoutMs`. */
async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(1);
  }
}

/** Calls `fn(i)` for i in [0, count) at `rate` per second, catching up in bursts when late. */
async function paced(count: number, rate: number, fn: (i: number) => void): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait >= 1) await sleep(wait);
    fn(i);
  }
}

/** One side's latency run: the warm-up's tasks and the measured ones, tracked apart. */
interface LatencyRun {
  warm: LatencyTracker;
  steady: LatencyTracker;
}

/**
 * 4. Submit-to-result latency at a steady moderate rate, one unary submission per task. Both
 * sides first run `latencyWarmupSeconds` at the rate: V8 optimises a fresh process's hot code
 * (grpc-js above all) over its first few thousand calls, and the figure is of a running system.
 * The warm-up's own latencies are reported too.
 */
export async function latency(ctx: BenchContext): Promise<void> {
  const { rate, latencySeconds, latencyWarmupSeconds } = ctx.opts;
  const warm = Math.round(rate * latencyWarmupSeconds);
  const count = Math.round(rate * latencySeconds);
  const run = async (side: LatencyRun, submit: (id: string, i: number) => Promise<unknown>) => {
    await paced(warm + count, rate, (i) => {
      const id = i < warm ? `warm-${i}` : `t-${i}`;
      const call = () => submit(id, i);
      if (i < warm) side.warm.submit(id, true, call);
      else side.steady.submit(id, true, call);
    });
    await side.warm.done(30_000);
    await side.steady.done(30_000);
  };
  const arrived = (side: LatencyRun, id: string) => (id.startsWith('warm-') ? side.warm : side.steady).arrived(id);

  /**
   * Our side's run, the front end in the bench's process or in one of its own; the tasks
   * submitted with a unary SubmitTask each, or over one SubmitTaskStream call (`viaStream`).
   */
  const oursRun = async (ownProcess: boolean, viaStream = false): Promise<LatencyRun> => {
    const layout = viaStream ? 'ours_stream' : ownProcess ? 'ours' : 'ours_one_process';
    const layoutLabel = `${ownProcess ? 'front end in its own process' : "client in the front end's process"}${viaStream ? ', submitted over one stream' : ''}`;
    const ours = await startOurs(ctx, ownProcess ? 'latency' : 'latency-1p', { ownProcess });
    const o: LatencyRun = { warm: new LatencyTracker(), steady: new LatencyTracker() };
    let pool: ChildProcess | undefined;
    // When each result entry reached a reader of the results stream in this process (XREAD
    // BLOCK on a connection of its own, as the front end's shared reader reads it), against when
    // the client had it through the front end and gRPC. Either may come first: the difference is
    // taken whichever does, in the phase the client's side was in.
    const delivery: { idle: number[]; loaded: number[] } = { idle: [], loaded: [] };
    let deliveryPhase: keyof typeof delivery | undefined;
    const onStream = new Map<string, number>();
    const atClient = new Map<string, { at: number; phase: keyof typeof delivery }>();
    const watch = new StreamCounter(
      ctx.redisUrl,
      ours.keys.resultStreams([INPROC_CLASS]).map((s) => s.key),
      (entries) => {
        const now = performance.now();
        for (const [, f] of entries) {
          const i = f.indexOf('task_id');
          if (i < 0 || i % 2 !== 0) continue;
          const id = f[i + 1]!;
          const client = atClient.get(id);
          if (client) {
            atClient.delete(id);
            delivery[client.phase].push(client.at - now);
          } else onStream.set(id, now);
        }
      },
    );
    const delivered = (taskId: string) => {
      if (!deliveryPhase) return;
      const now = performance.now();
      const seen = onStream.get(taskId);
      if (seen === undefined) atClient.set(taskId, { at: now, phase: deliveryPhase });
      else {
        onStream.delete(taskId);
        delivery[deliveryPhase].push(now - seen);
      }
    };
    try {
      pool = await startPool(ctx, ours, INPROC_CLASS, INPROC_CONCURRENCY);
      // One subscription for the whole run, as a client waiting on its class's results would hold.
      // A stream the server ends (a slow reader cut off under load: RESOURCE_EXHAUSTED) is resumed
      // from its last cursor, as a client would, and the resumptions are reported.
      let stream = ours.client.streamTaskResults({ taskClass: INPROC_CLASS });
      let stopped = false;
      let resumed = 0;
      const consuming = (async () => {
        let cursor = '';
        for (;;) {
          try {
            for await (const r of stream) {
              cursor = r.cursor;
              delivered(r.taskId);
              arrived(o, r.taskId);
            }
          } catch (err) {
            if (stopped) return;
            resumed++;
            console.log(`    results stream ended (${(err as Error).message}); resuming from its cursor`);
          }
          if (stopped) return;
          stream = ours.client.streamTaskResults({ taskClass: INPROC_CLASS, cursor });
        }
      })();
      try {
        await sleep(200);
        // At idle: one task at a time, the next 5 ms after the last result.
        deliveryPhase = 'idle';
        for (let i = 0; i < IDLE_DELIVERIES; i++) {
          await ours.client.submitTask({ taskId: `idle-${i}`, taskClass: INPROC_CLASS, payload: payload(i) });
          await waitUntil(() => delivery.idle.length > i, 10_000, `the result of idle task ${i}`);
          await sleep(5);
        }
        deliveryPhase = undefined;
        const submits = viaStream ? ours.client.submitStream() : undefined;
        await run(o, (taskId, i) => {
          if (i === warm) deliveryPhase = 'loaded';
          const t = { taskId, taskClass: INPROC_CLASS, payload: payload(i) };
          return submits ? submits.submit(t) : ours.client.submitTask(t);
        });
        await submits?.close();
      } finally {
        stopped = true;
        stream.cancel();
        await consuming;
        await watch.close();
      }
      ctx.report.note(`latency.${layout}.results_stream_resumed`, resumed);
      for (const phase of ['idle', 'loaded'] as const) {
        const v = delivery[phase].sort((a, b) => a - b);
        const at = (p: number) => v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)] ?? NaN;
        ctx.report.note(`latency.${layout}.delivery_${phase}_p50_ms`, at(50));
        ctx.report.note(`latency.${layout}.delivery_${phase}_p99_ms`, at(99));
        ctx.report.note(`latency.${layout}.delivery_${phase}_samples`, v.length);
        console.log(
          `    ours (${layoutLabel}), result delivery ${phase === 'idle' ? 'at idle' : `at ${rate}/s`}: the client has it ${at(50).toFixed(2)} ms (p50), ${at(99).toFixed(2)} ms (p99) after a reader of the results stream (${v.length} results)`,
        );
      }
      await latencySegments(ctx, ours, o.steady, layout, layoutLabel);
    } finally {
      if (pool) await stopChild(pool);
      await ours.close();
    }
    return o;
  };
  // The layouts alternate with nothing else between: the client beside the front end, then apart.
  const o1 = await oursRun(false);
  const o = await oursRun(true);
  const os = await oursRun(true, true);

  const base = startBaseline(ctx, 'latency');
  const b: LatencyRun = { warm: new LatencyTracker(), steady: new LatencyTracker() };
  let worker: ChildProcess | undefined;
  const eventsConnection = new Redis(ctx.redisUrl, { maxRetriesPerRequest: null });
  const events = new QueueEvents(base.queue.name, { connection: eventsConnection, prefix: base.prefix });
  try {
    worker = await startBaselineWorker(ctx, base, INPROC_CONCURRENCY, 'inproc');
    events.on('completed', ({ jobId }) => arrived(b, jobId));
    await events.waitUntilReady();
    await sleep(200);
    await run(b, (jobId, i) => base.queue.add('noop', payload(i), { jobId }));
  } finally {
    await events.close();
    await eventsConnection.quit();
    if (worker) await stopChild(worker);
    await base.close();
  }

  // The transport alone: a unary SubmitTask of the same message at the same pace, answered at
  // once by a bare grpc-js server (our codecs) in a process of its own, the client in this one.
  // No Redis, no task: what a call costs in time before our front end does anything.
  const t: LatencyRun = { warm: new LatencyTracker(), steady: new LatencyTracker() };
  let port = 0;
  const bare = await forkReady(join(ctx.dir, 'bare-grpc-process.js'), [], { execArgv: ctx.opts.childExecArgv, onReady: (m) => (port = Number(m.port)) });
  try {
    const client = connectBareGrpc('ts-proto', `127.0.0.1:${port}`);
    try {
      await run(t, (taskId, i) => client.submit({ taskId, taskClass: INPROC_CLASS, payload: payload(i) }).then(() => arrived(t, taskId)));
    } finally {
      client.close();
    }
  } finally {
    await stopChild(bare);
  }

  const label = `${rate}/s for ${latencySeconds} s`;
  for (const p of [50, 99]) {
    ctx.report.add({
      id: 'latency',
      scenario: `submit->result p${p} at ${label}`,
      unit: 'ms',
      ours: o.steady.percentile(p),
      baseline: b.steady.percentile(p),
      latency: true,
      note: `SubmitTask -> StreamTaskResults(class) vs Queue.add -> QueueEvents completed, after ${latencyWarmupSeconds} s at the rate; our front end in its own process`,
    });
  }
  for (const p of [50, 99]) {
    ctx.report.add({
      id: 'latency-one-process',
      scenario: `  the same p${p}, the client in the front end's process`,
      unit: 'ms',
      ours: o1.steady.percentile(p),
      baseline: b.steady.percentile(p),
      latency: true,
      note: 'client and front end share one process (and its CPU), as in the unary run',
    });
  }
  for (const p of [50, 99]) {
    ctx.report.add({
      id: 'latency-stream',
      scenario: `  the same p${p}, submitted over one SubmitTaskStream call`,
      unit: 'ms',
      ours: os.steady.percentile(p),
      baseline: b.steady.percentile(p),
      latency: true,
      note: 'front end in its own process; each task a message of one long-lived call instead of a unary call',
    });
  }
  for (const p of [50, 99]) {
    ctx.report.add({
      id: 'latency-transport',
      scenario: `  the same p${p}, against a bare grpc-js unary call's`,
      unit: 'ms',
      ours: o.steady.percentile(p),
      baseline: t.steady.percentile(p),
      latency: true,
      note: 'baseline: SubmitTask answered at once by a bare grpc-js server (ts-proto codecs) in its own process, paced the same from this process: the transport alone',
    });
  }
  ctx.report.add({
    id: 'latency',
    scenario: `  p50 of the first ${latencyWarmupSeconds} s after start (warm-up)`,
    unit: 'ms',
    ours: o.warm.percentile(50),
    baseline: b.warm.percentile(50),
    latency: true,
    note: 'processes just started: code not yet optimised',
  });
  for (const [side, r] of [
    ['ours', o],
    ['ours_one_process', o1],
    ['ours_stream', os],
    ['baseline', b],
    ['transport', t],
  ] as const) {
    const t = r.steady;
    ctx.report.note(`latency.${side}.p90_ms`, t.percentile(90));
    ctx.report.note(`latency.${side}.max_ms`, t.percentile(100));
    ctx.report.note(`latency.${side}.samples`, t.samples.length);
    ctx.report.note(`latency.${side}.submit_errors`, t.errors + r.warm.errors);
    ctx.report.note(`latency.${side}.warmup_p99_ms`, r.warm.percentile(99));
  }
  const ms = (v: number) => v.toFixed(2);
  console.log(
    `    p90 ours ${ms(o.steady.percentile(90))} ms, baseline ${ms(b.steady.percentile(90))} ms; max ours ${ms(o.steady.percentile(100))} ms, baseline ${ms(b.steady.percentile(100))} ms`,
  );
  console.log(
    `    a bare grpc-js unary call alone at ${rate}/s (server in its own process): p50 ${ms(t.steady.percentile(50))} ms, p90 ${ms(t.steady.percentile(90))} ms, p99 ${ms(t.steady.percentile(99))} ms, max ${ms(t.steady.percentile(100))} ms`,
  );
}

/** 5. Redis bytes per queued task: SubmitTasks with no pool running vs addBulk. */
export async function memory(ctx: BenchContext): Promise<void> {
  const { memoryTasks: count, batch } = ctx.opts;
  const r = ctx.control;

  const ours = await startOurs(ctx, 'memory');
  let o: number;
  try {
    let sample = '';
    const before = await usedMemory(r);
    await inBatches(count, batch, 0, async (from, n) => {
      const res = await ours.client.submitTasks(tasks(INPROC_CLASS, from, n));
      sample ||= res[0]!.taskId;
    });
    o = ((await usedMemory(r)) - before) / count;
    const qp = ours.keys.queuePrefixOf(INPROC_CLASS);
    // The index is TASK_INDEX_BUCKETS small hashes (src/store/keys.ts): their bytes summed, key names included.
    ctx.report.note('memory.ours.task_index_bytes_per_task', (await memoryUsageOf(r, taskIndexBuckets(ours.keys))) / count);
    ctx.report.note('memory.ours.task_list_bytes_per_task', (await memoryUsage(r, ours.keys.taskList(INPROC_CLASS))) / count);
    const eventStreams = ours.keys.eventStreams([INPROC_CLASS]).map((s) => s.key);
    ctx.report.note('memory.ours.events_stream_bytes_per_task', (await memoryUsageOf(r, eventStreams)) / count);
    ctx.report.note('memory.ours.job_hash_bytes', await memoryUsage(r, ours.keys.job(INPROC_CLASS, sample)));
    // Every task has a BullMQ priority (src/tasks/task-spec.ts toBullPriority): it waits in the
    // prioritized sorted set, not in the wait list.
    ctx.report.note('memory.ours.queue_bytes_per_task', (await queueBytes(r, `${qp}:${INPROC_CLASS}`)) / count);
    ctx.report.note('memory.ours.bull_events_stream_bytes_per_task', (await memoryUsage(r, `${qp}:${INPROC_CLASS}:events`)) / count);
  } finally {
    await ours.close();
  }

  const base = startBaseline(ctx, 'memory');
  let b: number;
  try {
    let sample = '';
    const before = await usedMemory(r);
    await inBatches(count, batch, 0, async (from, n) => {
      const added = await base.queue.addBulk(jobs(from, n));
      sample ||= added[0]!.id!;
    });
    b = ((await usedMemory(r)) - before) / count;
    const qp = `${base.prefix}:${base.queue.name}`;
    ctx.report.note('memory.baseline.job_hash_bytes', await memoryUsage(r, `${qp}:${sample}`));
    ctx.report.note('memory.baseline.queue_bytes_per_task', (await queueBytes(r, qp)) / count);
    ctx.report.note('memory.baseline.bull_events_stream_bytes_per_task', (await memoryUsage(r, `${qp}:events`)) / count);
  } finally {
    await base.close();
  }

  ctx.report.add({
    id: 'memory',
    scenario: `Redis bytes per queued task (${count.toLocaleString('en-US')})`,
    unit: 'B',
    ours: o,
    baseline: b,
    note: 'INFO used_memory delta; ours adds the task index, the task list and a submitted event per task, and uses UUID ids',
  });
  const e = ctx.report.extra;
  console.log(
    `    ours: job hash ${e['memory.ours.job_hash_bytes']} B, queue ${Math.round(e['memory.ours.queue_bytes_per_task']!)} B/task, task index ${Math.round(e['memory.ours.task_index_bytes_per_task']!)} B/task, task list ${Math.round(e['memory.ours.task_list_bytes_per_task']!)} B/task, events stream ${Math.round(
      e['memory.ours.events_stream_bytes_per_task']!,
    )} B/task; baseline job hash ${e['memory.baseline.job_hash_bytes']} B, queue ${Math.round(e['memory.baseline.queue_bytes_per_task']!)} B/task`,
  );
}
