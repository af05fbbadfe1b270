/**
 * The cluster scenario (--cluster 1,2,3): end-to-end no-op tasks over four classes on a Redis
 * Cluster of 1, 2 and 3 masters, ours against plain BullMQ with one queue per class, and the
 * Redis CPU each master spent per task.
 *
 * Per layout: a throwaway cluster (bench-cluster.ts); each side's classes placed so that they
 * spread over the masters (the slot of each class's keys moved to master i mod N, before any key
 * exists); then, one side after the other, a warm-up and a timed run of `tasks` tasks submitted in
 * batches (--batch) split evenly over the classes, until every result is seen. Ours: an
 * Orchestrator in this process and one WorkerPool process serving the four classes; completion is
 * read from the classes' results streams (Keys.resultStreams). Baseline: a Queue per class in
 * this process, each under a hash tag of its own (clusterBullPrefix, as BullMQ asks on a
 * cluster), and one process with a Worker per queue; completion is the Workers' `completed`.
 *
 * Where a class's keys live is asked of the cluster (CLUSTER KEYSLOT of the class's task list,
 * and of a BullMQ queue's wait list), never assumed from their names: with one hash tag for the
 * whole system every class has the same slot, and one master does all of our side's work; with a
 * hash tag per class the same code spreads them.
 *
 * Then, on the largest cluster, one hot class takes every task, unpartitioned and then in as many
 * partitions as there are masters (classes.<name>.partitions, each partition's slot on a master
 * of its own): end-to-end tasks/s and the Redis CPU per task of the busiest master, ours alone
 * (BullMQ's one queue can only be the unpartitioned case).
 */
import { Queue } from 'bullmq';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { OrchestratorClient } from '../src/client/orchestrator-client.js';
import { createLogger } from '../src/logging/logger.js';
import { Orchestrator } from '../src/orchestrator.js';
import { createRedis } from '../src/redis/connection.js';
import { keysFor } from '../src/store/keys-for.js';
import { benchConfig, CLUSTER_CLASSES, CLUSTER_CONCURRENCY, clusterBullPrefix, HOT_CLASS, HOT_CONCURRENCY } from './bench-config.js';
import { startBenchCluster, type BenchCluster } from './bench-cluster.js';
import { forkReady, stopChild, treeCpuMs } from './processes.js';
import { completed, inBatches, resultKeys, tasks, type BenchContext } from './scenarios.js';
import { StreamCounter } from './stream-counter.js';

/** Tasks of each side's warm-up, spread over the classes like the timed run's. */
const WARM = 1_000;

interface ClusterRun {
  perSecond: number;
  /** Redis CPU µs per task of the run, by master port. */
  redisUsPerTask: Map<number, number>;
  /** CPU µs per task of this process and of the worker process. */
  driverUsPerTask: number;
  workerUsPerTask: number;
  /** The classes (queues) each master holds, by port. */
  placement: Map<number, string[]>;
}

/**
 * Puts each class's slot on master i mod N (i: the order in which distinct slots first appear),
 * moving slots that are elsewhere; classes sharing a slot stay together. Returns the classes on
 * each master. `keyOf` names a key of the class's hash tag.
 */
async function place(c: BenchCluster, keyOf: (cls: string) => string): Promise<Map<number, string[]>> {
  const slots = new Map<number, string[]>();
  for (const cls of CLUSTER_CLASSES) {
    const slot = await c.slotOf(keyOf(cls));
    slots.set(slot, [...(slots.get(slot) ?? []), cls]);
  }
  const placement = new Map<number, string[]>(c.ports.map((p) => [p, []]));
  let i = 0;
  for (const [slot, classes] of slots) {
    const target = c.ports[i++ % c.ports.length]!;
    if ((await c.masterOf(slot)) !== target) await c.moveSlot(slot, target);
    placement.get(target)!.push(...classes);
  }
  return placement;
}

/**
 * Submits `total` tasks from `from`, `batch` at a time, each such step split evenly over the
 * classes: one call per class, the four in flight together.
 */
async function spread(total: number, batch: number, from: number, submit: (cls: string, from: number, n: number) => Promise<unknown>): Promise<void> {
  const k = CLUSTER_CLASSES.length;
  await inBatches(total, batch, from, (f, n) =>
    Promise.all(
      CLUSTER_CLASSES.map((cls, i) => {
        const a = Math.floor((n * i) / k);
        const b = Math.floor((n * (i + 1)) / k);
        return b > a ? submit(cls, f + a, b - a) : undefined;
      }),
    ),
  );
}

/** Times `fn` over `total` tasks: wall time, each master's CPU, this process's and the worker's. */
async function timed(
  side: string,
  c: BenchCluster,
  total: number,
  worker: ChildProcess,
  placement: Map<number, string[]>,
  fn: () => Promise<void>,
): Promise<ClusterRun> {
  const redis0 = await Promise.all(c.ports.map((p) => c.cpuMs(p)));
  const worker0 = treeCpuMs(worker.pid!);
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const redis1 = await Promise.all(c.ports.map((p) => c.cpuMs(p)));
  console.log(`    ${side}: keys on each master after the run: ${(await Promise.all(c.ports.map(async (p) => `:${p} ${await c.dbSize(p)}`))).join(', ')}`);
  return {
    perSecond: total / seconds,
    redisUsPerTask: new Map(c.ports.map((p, i) => [p, ((redis1[i]! - redis0[i]!) * 1000) / total])),
    driverUsPerTask: (self.user + self.system) / total,
    workerUsPerTask: ((treeCpuMs(worker.pid!) - worker0) * 1000) / total,
    placement,
  };
}

async function oursOn(ctx: BenchContext, c: BenchCluster, url: string, masters: number): Promise<ClusterRun> {
  const { batch } = ctx.opts;
  const total = ctx.opts.clusterTasks;
  const prefix = `${ctx.runId}-cluster${masters}`;
  const keys = keysFor(prefix, url);
  const placement = await place(c, (cls) => keys.taskList(cls));
  const config = benchConfig({ redisUrl: url, prefix, clusterClasses: true });
  const orchestrator = new Orchestrator({ config, redisUrl: url, logger: createLogger('warn', { process: 'bench-orchestrator' }) });
  await orchestrator.start();
  const client = new OrchestratorClient(`127.0.0.1:${orchestrator.grpcPort}`, { defaultDeadlineMs: 120_000 });
  const results = new StreamCounter(url, resultKeys(keys, CLUSTER_CLASSES));
  let pool: ChildProcess | undefined;
  try {
    pool = await forkReady(join(ctx.dir, 'pool-process.js'), [url, prefix, CLUSTER_CLASSES.join(','), String(CLUSTER_CONCURRENCY)], {
      execArgv: ctx.opts.childExecArgv,
    });
    const submit = (cls: string, from: number, n: number) => client.submitTasks(tasks(cls, from, n));
    await spread(WARM, batch, 0, submit);
    await results.until(WARM, 60_000);
    return await timed('ours', c, total, pool, placement, async () => {
      await spread(total, batch, WARM, submit);
      await results.until(WARM + total, 300_000);
    });
  } finally {
    await results.close();
    if (pool) await stopChild(pool);
    client.close();
    await orchestrator.close(1_000);
  }
}

async function baselineOn(ctx: BenchContext, c: BenchCluster, url: string, masters: number): Promise<ClusterRun> {
  const { batch } = ctx.opts;
  const total = ctx.opts.clusterTasks;
  const prefix = `${ctx.runId}-cluster${masters}-bull`;
  const placement = await place(c, (cls) => `${clusterBullPrefix(prefix, cls)}:${cls}:wait`);
  const connection = createRedis(url);
  const queues = new Map<string, Queue>(CLUSTER_CLASSES.map((cls) => [cls, new Queue(cls, { connection, prefix: clusterBullPrefix(prefix, cls) })]));
  let worker: ChildProcess | undefined;
  try {
    worker = await forkReady(join(ctx.dir, 'baseline-worker.js'), [url, prefix, CLUSTER_CLASSES.join(','), String(CLUSTER_CONCURRENCY), 'inproc'], {
      execArgv: ctx.opts.childExecArgv,
    });
    const add = (cls: string, from: number, n: number) =>
      queues.get(cls)!.addBulk(Array.from({ length: n }, (_, k) => ({ name: 'noop', data: { n: String(from + k) } })));
    await spread(WARM, batch, 0, add);
    await completed(worker, WARM, 60_000);
    const w = worker;
    return await timed('baseline', c, total, worker, placement, async () => {
      await spread(total, batch, WARM, add);
      await completed(w, WARM + total, 300_000);
    });
  } finally {
    if (worker) await stopChild(worker);
    for (const q of queues.values()) await q.close();
    connection.disconnect();
  }
}

/** One layout: a cluster of `masters` masters, both sides, the figures reported. */
async function layout(ctx: BenchContext, masters: number): Promise<void> {
  const c = await startBenchCluster(masters);
  try {
    const url = c.url;
    const o = await oursOn(ctx, c, url, masters);
    const b = await baselineOn(ctx, c, url, masters);
    const total = ctx.opts.clusterTasks;
    const id = 'cluster';
    ctx.report.add({
      id,
      scenario: `cluster e2e no-op, ${masters} master(s), ${CLUSTER_CLASSES.length} classes x concurrency ${CLUSTER_CONCURRENCY}, ${total.toLocaleString('en-US')} tasks`,
      unit: 'tasks/s',
      ours: o.perSecond,
      baseline: b.perSecond,
      note: 'SubmitTasks -> one WorkerPool (4 classes) -> results streams vs addBulk (a queue per class, own hash tag) -> Worker per queue -> completed',
    });
    const sum = (m: Map<number, number>) => [...m.values()].reduce((a, v) => a + v, 0);
    ctx.report.add({
      id,
      scenario: `  Redis CPU per task, all ${masters} master(s) together`,
      unit: 'µs',
      ours: sum(o.redisUsPerTask),
      baseline: sum(b.redisUsPerTask),
    });
    const names = (l: string[] | undefined) => (l?.length ? l.join(',') : 'none');
    for (const port of c.ports) {
      ctx.report.add({
        id,
        scenario: `  Redis CPU per task, master :${port} (ours: ${names(o.placement.get(port))}; BullMQ: ${names(b.placement.get(port))})`,
        unit: 'µs',
        ours: o.redisUsPerTask.get(port)!,
        baseline: b.redisUsPerTask.get(port)!,
        note: 'INFO cpu (used_cpu_user + used_cpu_sys) delta of this master over the timed run, divided by every task of the run',
      });
    }
    for (const [side, r] of [
      ['ours', o],
      ['baseline', b],
    ] as const) {
      const key = `cluster.${masters}m.${side}`;
      ctx.report.note(`${key}.tasks_per_s`, r.perSecond);
      ctx.report.note(`${key}.cpu_us_per_task.driver`, r.driverUsPerTask);
      ctx.report.note(`${key}.cpu_us_per_task.worker`, r.workerUsPerTask);
      c.ports.forEach((port, i) => {
        ctx.report.note(`${key}.master${i}.redis_cpu_us_per_task`, r.redisUsPerTask.get(port)!);
        ctx.report.note(`${key}.master${i}.classes`, r.placement.get(port)!.length);
      });
    }
    // Per task a master served: its CPU over the tasks of the classes it holds (none: only the
    // keys every class shares, if any, are there).
    const served = (r: ClusterRun) =>
      c.ports
        .map((port) => {
          const n = r.placement.get(port)!.length;
          return n ? `:${port} ${Math.round((r.redisUsPerTask.get(port)! * CLUSTER_CLASSES.length) / n)}` : `:${port} -`;
        })
        .join(', ');
    console.log(`    Redis CPU µs per task a master served (its classes' tasks): ours ${served(o)}; baseline ${served(b)}`);
    console.log(
      `    CPU µs per task: ours driver ${Math.round(o.driverUsPerTask)}, worker ${Math.round(o.workerUsPerTask)}; baseline driver ${Math.round(b.driverUsPerTask)}, worker ${Math.round(b.workerUsPerTask)}`,
    );
  } finally {
    await c.stop();
  }
}

/** The hot class with `partitions` partitions, partition p's slot on master p mod N: ours only. */
async function hotOn(ctx: BenchContext, c: BenchCluster, masters: number, partitions: number): Promise<ClusterRun> {
  const { batch } = ctx.opts;
  const total = ctx.opts.clusterTasks;
  const url = c.url;
  const prefix = `${ctx.runId}-hot${masters}-${partitions}`;
  const config = benchConfig({ redisUrl: url, prefix, hotPartitions: partitions });
  const keys = keysFor(prefix, url, config.classes);
  const placement = new Map<number, string[]>(c.ports.map((p) => [p, []]));
  for (const p of keys.partitions(HOT_CLASS)) {
    const slot = await c.slotOf(keys.taskList(HOT_CLASS, p));
    const target = c.ports[p % c.ports.length]!;
    if ((await c.masterOf(slot)) !== target) await c.moveSlot(slot, target);
    placement.get(target)!.push(p > 0 ? `${HOT_CLASS}.${p}` : HOT_CLASS);
  }
  const orchestrator = new Orchestrator({ config, redisUrl: url, logger: createLogger('warn', { process: 'bench-orchestrator' }) });
  await orchestrator.start();
  const client = new OrchestratorClient(`127.0.0.1:${orchestrator.grpcPort}`, { defaultDeadlineMs: 120_000 });
  const results = new StreamCounter(url, resultKeys(keys, [HOT_CLASS]));
  let pool: ChildProcess | undefined;
  try {
    pool = await forkReady(join(ctx.dir, 'pool-process.js'), [url, prefix, HOT_CLASS, String(HOT_CONCURRENCY), '', String(partitions)], {
      execArgv: ctx.opts.childExecArgv,
    });
    const submit = (from: number, n: number) => client.submitTasks(tasks(HOT_CLASS, from, n));
    await inBatches(WARM, batch, 0, submit);
    await results.until(WARM, 60_000);
    return await timed(`ours, ${partitions} partition(s)`, c, total, pool, placement, async () => {
      await inBatches(total, batch, WARM, submit);
      await results.until(WARM + total, 300_000);
    });
  } finally {
    await results.close();
    if (pool) await stopChild(pool);
    client.close();
    await orchestrator.close(1_000);
  }
}

/** The hot class on a cluster of `masters` masters: one partition, then one per master. */
async function hotClass(ctx: BenchContext, masters: number): Promise<void> {
  const c = await startBenchCluster(masters);
  try {
    const one = await hotOn(ctx, c, masters, 1);
    const split = await hotOn(ctx, c, masters, masters);
    const busiest = (r: ClusterRun) => Math.max(...r.redisUsPerTask.values());
    const total = ctx.opts.clusterTasks;
    ctx.report.add({
      id: 'cluster',
      scenario: `cluster hot class, ${masters} masters, ${masters} partitions vs 1, ${total.toLocaleString('en-US')} tasks`,
      unit: 'tasks/s',
      ours: split.perSecond,
      baseline: one.perSecond,
      note: `baseline column: the same class unpartitioned (all its keys on one master); one pool, concurrency ${HOT_CONCURRENCY} split over the partitions`,
    });
    ctx.report.add({
      id: 'cluster',
      scenario: `  Redis CPU per task of the busiest master, ${masters} partitions vs 1`,
      unit: 'µs',
      ours: busiest(split),
      baseline: busiest(one),
      note: 'INFO cpu delta of the master that spent the most over the timed run, divided by every task of the run',
    });
    for (const [name, r] of [
      ['1p', one],
      [`${masters}p`, split],
    ] as const) {
      const key = `cluster.hot.${masters}m.${name}`;
      ctx.report.note(`${key}.tasks_per_s`, r.perSecond);
      ctx.report.note(`${key}.busiest_master_redis_cpu_us_per_task`, busiest(r));
      c.ports.forEach((port, i) => ctx.report.note(`${key}.master${i}.redis_cpu_us_per_task`, r.redisUsPerTask.get(port)!));
      ctx.report.note(`${key}.cpu_us_per_task.driver`, r.driverUsPerTask);
      ctx.report.note(`${key}.cpu_us_per_task.worker`, r.workerUsPerTask);
    }
    const perMaster = (r: ClusterRun) => c.ports.map((p) => `:${p} ${Math.round(r.redisUsPerTask.get(p)!)}`).join(', ');
    console.log(`    hot class Redis CPU µs per task on each master: 1 partition ${perMaster(one)}; ${masters} partitions ${perMaster(split)}`);
  } finally {
    await c.stop();
  }
}

/** The cluster scenario, one layout per master count; then the hot class on the largest. */
export async function cluster(ctx: BenchContext): Promise<void> {
  for (const masters of ctx.opts.clusterMasters) {
    console.log(`  ${masters} master(s):`);
    await layout(ctx, masters);
  }
  const most = Math.max(...ctx.opts.clusterMasters);
  if (most > 1) {
    console.log(`  hot class, ${most} masters:`);
    await hotClass(ctx, most);
  }
}
