/**
 * Orchestrator against plain BullMQ on the same Redis, in one run. Prints each figure with its
 * ratio to the baseline and writes them to bench/results/latest.json.
 *
 *   npm run bench [-- --tasks 20000 --only e2e-inproc,latency]
 *
 * Processes: Redis; this process (the gRPC client and, for ours, the orchestrator; for the
 * baseline, the BullMQ Queue); one worker process (our pool, or a plain BullMQ Worker). Both
 * sides run the same concurrency in the same execution mode (in-process or sandboxed).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { OrchestratorClient, type TaskInput } from '../src/client/orchestrator-client.js';
import { OrchestratorServiceService } from '../src/gen/orchestrator/v1/orchestrator.js';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/logging/logger.js';
import { Orchestrator } from '../src/orchestrator.js';
import { keys as makeKeys } from '../src/redis/keys.js';
import { benchRedis } from './bench-redis.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const args = process.argv.slice(2);
const flag = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const N = Number(flag('tasks', '20000'));
const only = flag('only', '').split(',').filter(Boolean);
const want = (name: string) => only.length === 0 || only.includes(name);
/** --cpu-prof: the worker processes write V8 CPU profiles to bench/results/ (open in Chrome DevTools). */
const cpuProf = args.includes('--cpu-prof');

const TOML = `
logLevel = "warn"
[pool]
heartbeatMs = 1000
[classes.bench_inproc]
concurrency = 16
attempts = 1
inProcessHandlers = true
[classes.bench_sandbox]
concurrency = 8
attempts = 1
`;

interface Row {
  scenario: string;
  unit: string;
  ours: number;
  baseline: number;
  ratio: number;
  note?: string;
}
const rows: Row[] = [];
const extra: Record<string, number> = {};

function record(scenario: string, unit: string, ours: number, baseline: number, note?: string) {
  const row = {
    scenario,
    unit,
    ours: Math.round(ours * 100) / 100,
    baseline: Math.round(baseline * 100) / 100,
    ratio: Math.round((ours / baseline) * 1000) / 1000,
    note,
  };
  rows.push(row);
  console.log(`  ${scenario}: ours ${row.ours} ${unit}, baseline ${row.baseline} ${unit}, ratio ${row.ratio}${note ? ` (${note})` : ''}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(fn: () => Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function vmHwmKb(pid: number): number {
  const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** CPU time a process has used so far, in ms (user + system, from /proc). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** CPU per task of each process over `fn`: where the time goes. */
async function cpuPerTask(pids: Record<string, number>, tasks: number, fn: () => Promise<void>): Promise<Record<string, number>> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMs(pid)]));
  const self0 = process.cpuUsage();
  await fn();
  const self = process.cpuUsage(self0);
  const out: Record<string, number> = { driver: ((self.user + self.system) / 1000 / tasks) * 1000 };
  for (const [k, pid] of Object.entries(pids)) out[k] = ((cpuMs(pid) - before[k]!) / tasks) * 1000;
  return out;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const redis = await benchRedis();
  const redisPid = redis.pid ?? 0;
  const r = new Redis(redis.url, { maxRetriesPerRequest: null });
  const dir = mkdtempSync(join(tmpdir(), 'orq-bench-'));
  const configFile = join(dir, 'bench.toml');
  writeFileSync(configFile, TOML);
  const config = loadConfig({ file: configFile, env: {}, overrides: { redis: { url: redis.url }, grpc: { addr: '127.0.0.1:0' } } });
  const keys = makeKeys(config.redis.prefix);
  const orchestrator = new Orchestrator({ config, redisUrl: redis.url, logger: createLogger('warn') });
  await orchestrator.start();
  const client = new OrchestratorClient(`127.0.0.1:${orchestrator.grpcPort}`, { defaultDeadlineMs: 120_000 });
  const children: ChildProcess[] = [];
  const profArgs = cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(root, 'bench', 'results')}`] : [];
  const flush = async () => {
    await r.flushall();
  };

  const startPool = async (classes: string): Promise<ChildProcess> => {
    const child = fork(join(root, 'dist/workers/main.js'), ['--classes', classes, '--pool-id', 'bench-pool'], {
      env: { PATH: process.env.PATH, REDIS_URL: redis.url, ORCHESTRATOR_CONFIG: configFile },
      stdio: 'inherit',
      execArgv: profArgs,
    });
    children.push(child);
    await until(async () => (await r.zscore(keys.pools, 'bench-pool')) !== null, 'the pool to register');
    return child;
  };
  const startBaselineWorker = async (queue: string, concurrency: number, mode: 'inproc' | 'sandbox', likeOurs = false): Promise<ChildProcess> => {
    const child = fork(join(here, 'baseline-worker.js'), [redis.url, queue, String(concurrency), mode, likeOurs ? 'like-ours' : ''], {
      stdio: 'inherit',
      execArgv: profArgs,
    });
    children.push(child);
    await new Promise((res) => child.once('message', res));
    return child;
  };
  const stop = async (child: ChildProcess) => {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((res) => child.once('exit', res));
  };
  const tasks = (n: number, cls: string, from = 0): TaskInput[] => Array.from({ length: n }, (_, i) => ({ taskClass: cls, payload: { n: String(from + i) } }));
  const jobs = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ name: 'noop', data: { n: String(from + i) } }));
  const baseQueue = (name: string) => new Queue(name, { connection: r, prefix: 'base' });

  console.log(`Orchestrator vs plain BullMQ, ${N} tasks per throughput run, Redis ${redis.url}`);

  if (want('enqueue')) {
    await flush();
    const t0 = performance.now();
    for (let i = 0; i < N; i += 1000) await client.submitTasks(tasks(Math.min(1000, N - i), 'bench_inproc', i));
    const ours = N / ((performance.now() - t0) / 1000);
    await flush();
    const q = baseQueue('enqueue');
    const t1 = performance.now();
    for (let i = 0; i < N; i += 1000) await q.addBulk(jobs(Math.min(1000, N - i), i));
    const base = N / ((performance.now() - t1) / 1000);
    await q.close();
    record('SubmitTasks enqueue (batches of 1,000)', 'tasks/s', ours, base, 'vs Queue.addBulk');
  }

  if (want('unary')) {
    const total = Math.min(N, 10_000);
    const inFlight = 64;
    const run = async (one: (i: number) => Promise<unknown>) => {
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (next < total) await one(next++);
        }),
      );
      return total / ((performance.now() - t0) / 1000);
    };
    await flush();
    const ours = await run((i) => client.submitTask({ taskClass: 'bench_inproc', payload: { n: String(i) } }));
    await flush();
    const q = baseQueue('unary');
    const base = await run((i) => q.add('noop', { n: String(i) }));
    await q.close();
    record(`SubmitTask unary, ${inFlight} in flight`, 'tasks/s', ours, base, 'vs Queue.add');
    // For scale: the same calls against a server whose handler does nothing at all.
    const noop = new Server();
    noop.addService(
      OrchestratorServiceService,
      new Proxy({}, { get: () => (_call: unknown, cb: (e: null, r: object) => void) => cb(null, { taskId: '', created: false, state: 0 }) }) as never,
    );
    const port = await new Promise<number>((res, rej) => noop.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    const noopClient = new OrchestratorClient(`127.0.0.1:${port}`);
    extra.grpc_noop_unary_calls_per_s = await run((i) => noopClient.submitTask({ taskClass: 'bench_inproc', payload: { n: String(i) } }));
    noopClient.close();
    noop.forceShutdown();
    console.log(`  (gRPC alone, a handler that does nothing: ${Math.round(extra.grpc_noop_unary_calls_per_s)} calls/s)`);
  }

  for (const mode of ['inproc', 'sandbox'] as const) {
    if (!want(`e2e-${mode}`)) continue;
    const cls = mode === 'inproc' ? 'bench_inproc' : 'bench_sandbox';
    const concurrency = mode === 'inproc' ? 16 : 8;
    const total = mode === 'inproc' ? N : Math.ceil(N / 2);
    const warm = 1000;

    await flush();
    const pool = await startPool(`${cls}:${concurrency}`);
    const submitAll = async (n: number, from: number) => {
      for (let i = 0; i < n; i += 1000) await client.submitTasks(tasks(Math.min(1000, n - i), cls, from + i));
    };
    await submitAll(warm, 0);
    await until(async () => (await r.xlen(keys.results)) >= warm, 'warm-up results');
    let t0 = performance.now();
    const oursCpu = await cpuPerTask({ redis: redisPid, worker: pool.pid! }, total, async () => {
      await submitAll(total, warm);
      await until(async () => (await r.xlen(keys.results)) >= warm + total, 'results');
    });
    const ours = total / ((performance.now() - t0) / 1000);
    extra[`pool_peak_rss_mb_${mode}`] = vmHwmKb(pool.pid!) / 1024;
    await stop(pool);

    await flush();
    const qname = `e2e-${mode}`;
    const q = baseQueue(qname);
    const worker = await startBaselineWorker(qname, concurrency, mode);
    const addAll = async (n: number, from: number) => {
      for (let i = 0; i < n; i += 1000) await q.addBulk(jobs(Math.min(1000, n - i), from + i));
    };
    await addAll(warm, 0);
    await until(async () => (await q.getCompletedCount()) >= warm, 'baseline warm-up');
    t0 = performance.now();
    const baseCpu = await cpuPerTask({ redis: redisPid, worker: worker.pid! }, total, async () => {
      await addAll(total, warm);
      await until(async () => (await q.getCompletedCount()) >= warm + total, 'baseline completions');
    });
    const base = total / ((performance.now() - t0) / 1000);
    const fmt = (c: Record<string, number>) =>
      Object.entries(c)
        .map(([k, v]) => `${k} ${Math.round(v)}`)
        .join(', ');
    console.log(`  CPU µs per task, ${mode}: ours ${fmt(oursCpu)}; baseline ${fmt(baseCpu)}`);
    for (const [k, v] of Object.entries(oursCpu)) extra[`cpu_us_per_task_${mode}_ours_${k}`] = v;
    for (const [k, v] of Object.entries(baseCpu)) extra[`cpu_us_per_task_${mode}_baseline_${k}`] = v;
    extra[`baseline_worker_peak_rss_mb_${mode}`] = vmHwmKb(worker.pid!) / 1024;
    await stop(worker);
    await q.close();
    record(
      `end-to-end no-op, ${mode === 'inproc' ? 'in-process' : 'sandboxed'} (concurrency ${concurrency})`,
      'tasks/s',
      ours,
      base,
      'gRPC submit -> pool -> results stream vs addBulk -> Worker',
    );

    // The same plain BullMQ, but with the job and worker options every Orchestrator task has
    // (its own id, priority, attempts and backoff, retention, a worker name, the task envelope):
    // what BullMQ itself costs when configured like this system.
    await flush();
    const q2 = baseQueue(`${qname}-like-ours`);
    const worker2 = await startBaselineWorker(`${qname}-like-ours`, concurrency, mode, true);
    const likeOurs = (n: number, from: number) =>
      Array.from({ length: n }, (_, i) => ({
        name: 'handler:echo',
        data: { executor: { kind: 'handler', name: 'echo' }, payload: { n: String(from + i) }, timeoutMs: 60_000 },
        opts: { jobId: randomUUID(), priority: 1001, attempts: 1, backoff: { type: 'exponential' as const, delay: 1000 } },
      }));
    const pending = async () => {
      const c = await q2.getJobCounts('wait', 'prioritized', 'active');
      return (c.wait ?? 0) + (c.prioritized ?? 0) + (c.active ?? 0);
    };
    for (let i = 0; i < warm; i += 1000) await q2.addBulk(likeOurs(Math.min(1000, warm - i), i));
    await until(async () => (await pending()) === 0, 'like-ours warm-up');
    t0 = performance.now();
    for (let i = 0; i < total; i += 1000) await q2.addBulk(likeOurs(Math.min(1000, total - i), warm + i));
    await until(async () => (await pending()) === 0, 'like-ours completions');
    const likeOursRate = total / ((performance.now() - t0) / 1000);
    await stop(worker2);
    await q2.close();
    extra[`bullmq_like_ours_tasks_per_s_${mode}`] = likeOursRate;
    console.log(`  (plain BullMQ with our job options, ${mode}: ${Math.round(likeOursRate)} tasks/s; ours is ${(ours / likeOursRate).toFixed(3)} of it)`);
  }

  if (want('latency')) {
    const rate = 500;
    const seconds = Number(flag('latency-seconds', '10'));
    const count = rate * seconds;
    const measure = async (streamKey: string, submit: (i: number) => Promise<unknown>, idOf: (fields: string[]) => string | undefined) => {
      const sent = new Map<string, number>();
      const lat: number[] = [];
      const reader = new Redis(redis.url, { maxRetriesPerRequest: null });
      let cursor = '$';
      let done = false;
      const reading = (async () => {
        while (!done) {
          const res = (await reader.xread('COUNT', 1000, 'BLOCK', 200, 'STREAMS', streamKey, cursor)) as [string, [string, string[]][]][] | null;
          if (!res) continue;
          const now = performance.now();
          for (const [id, fields] of res[0]![1]) {
            cursor = id;
            const taskId = idOf(fields);
            const t = taskId === undefined ? undefined : sent.get(taskId);
            if (t !== undefined) {
              lat.push(now - t);
              sent.delete(taskId!);
            }
          }
        }
      })();
      await sleep(200);
      const start = performance.now();
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < count; i++) {
        const due = start + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        const id = `lat-${i}`;
        sent.set(id, performance.now());
        pending.push(submit(i));
      }
      await Promise.all(pending);
      await until(async () => lat.length >= count, 'latency results', 60_000);
      done = true;
      await reading;
      reader.disconnect();
      lat.sort((a, b) => a - b);
      return { p50: percentile(lat, 50), p99: percentile(lat, 99) };
    };
    await flush();
    const pool = await startPool('bench_inproc:16');
    const ours = await measure(
      keys.results,
      (i) => client.submitTask({ taskId: `lat-${i}`, taskClass: 'bench_inproc', payload: { n: String(i) } }),
      (f) => f[1],
    );
    await stop(pool);
    await flush();
    const q = baseQueue('latency');
    const worker = await startBaselineWorker('latency', 16, 'inproc');
    const base = await measure(
      'base:latency:events',
      (i) => q.add('noop', { n: String(i) }, { jobId: `lat-${i}` }),
      (f) => (f[1] === 'completed' ? f[3] : undefined),
    );
    await stop(worker);
    await q.close();
    record(`submit->result p50 at ${rate}/s`, 'ms', ours.p50, base.p50, `difference ${(ours.p50 - base.p50).toFixed(2)} ms`);
    record(`submit->result p99 at ${rate}/s`, 'ms', ours.p99, base.p99, `difference ${(ours.p99 - base.p99).toFixed(2)} ms`);
  }

  if (want('memory')) {
    const count = 100_000;
    const used = async () => Number(/used_memory:(\d+)/.exec(await r.info('memory'))![1]);
    await flush();
    let before = await used();
    for (let i = 0; i < count; i += 1000) await client.submitTasks(tasks(1000, 'bench_inproc', i));
    const ours = ((await used()) - before) / count;
    const streamBytes = Number(await r.memory('USAGE', keys.events, 'SAMPLES', '0'));
    await flush();
    const q = baseQueue('memory');
    before = await used();
    for (let i = 0; i < count; i += 1000) await q.addBulk(jobs(1000, i));
    const base = ((await used()) - before) / count;
    await q.close();
    record(
      'Redis bytes per queued task (100,000)',
      'bytes',
      ours,
      base,
      `ours includes the task index and the submitted event (${Math.round(streamBytes / count)} B/task in the events stream)`,
    );
  }

  extra.orchestrator_process_peak_rss_mb = process.resourceUsage().maxRSS / 1024;
  console.log('\nscenario | ours | baseline | ratio');
  for (const row of rows) console.log(`${row.scenario} | ${row.ours} ${row.unit} | ${row.baseline} ${row.unit} | ${row.ratio}`);
  for (const [k, v] of Object.entries(extra)) console.log(`${k}: ${v.toFixed(1)}`);
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(join(root, 'bench', 'results', 'latest.json'), JSON.stringify({ at: new Date().toISOString(), tasks: N, rows, extra }, null, 2));

  client.close();
  await orchestrator.close(1_000);
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  r.disconnect();
  await redis.stop();
}

await main();
