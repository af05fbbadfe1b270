/**
 * Orchestrator against plain BullMQ, on one Redis, in one run: each figure is printed with its
 * ratio to the baseline measured just before or after it, then all of them as a table, and
 * written to bench/results/latest.json. Benchmarks never assert: read the numbers.
 *
 *   npm run bench [-- --tasks 20000 --only e2e-inproc,latency]
 *   node dist/bench/run.js --help
 *
 * Uses REDIS_URL when set (it must be on 127.0.0.1; only the bench's own keys are written and
 * deleted), else starts a throwaway redis-server on a free loopback port. The cluster scenario
 * (cluster-scenario.ts) starts throwaway Redis Clusters of its own whatever REDIS_URL says.
 */
import '../src/process/v8-tuning.js'; // first: V8 settings before any other module is compiled
import { Redis } from 'ioredis';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findOnPath } from '../src/redis/redis-server-process.js';
import { killBenchClusters } from './bench-cluster.js';
import { benchRedis, type BenchRedis } from './bench-redis.js';
import { cluster } from './cluster-scenario.js';
import { killAllChildren } from './processes.js';
import { Report } from './report.js';
import { endToEnd, enqueue, latency, memory, unary, type BenchContext, type BenchOptions } from './scenarios.js';
import { runnerScenario } from './runner-scenario.js';
import { workflow } from './workflow-scenario.js';
import { streams } from './streams-scenario.js';
import { tracingCost } from './tracing-scenario.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const SCENARIOS = ['enqueue', 'unary', 'e2e-inproc', 'e2e-sandbox', 'runner', 'latency', 'memory', 'workflow', 'streams', 'tracing', 'cluster'] as const;

const HELP = `Usage: node dist/bench/run.js [options]

  --only LIST            scenarios to run, comma-separated (default: all; cluster only where
                         redis-cli is installed): ${SCENARIOS.join(', ')}
  --cluster LIST         cluster scenario: a throwaway Redis Cluster of each of these master
                         counts in turn (default 1,2,3); then, on the largest, one hot class
                         unpartitioned and in one partition per master
  --cluster-tasks N      cluster scenario: tasks per timed run, over its 4 classes, and of each
                         hot class run (default 8000)
  --tasks N              tasks per enqueue and in-process end-to-end run (default 20000)
  --sandbox-tasks N      tasks of the sandboxed end-to-end run (default tasks / 2)
  --unary-tasks N        unary calls (default 10000)
  --batch N              tasks per SubmitTasks / addBulk call (default 1000)
  --in-flight N          unary calls in flight (default 64)
  --rate N               latency and streams runs: tasks per second (default 500)
  --latency-seconds N    latency and streams runs: seconds measured (default 10)
  --latency-warmup N     latency run: seconds at the rate before that, reported apart (default 5)
  --memory-tasks N       tasks queued for the memory figure (default 100000)
  --cpu-prof             worker processes write V8 CPU profiles to bench/results/
                         (for this process: node --cpu-prof --cpu-prof-dir=bench/results dist/bench/run.js)
  --redis-stats          print Redis's time per command of each timed run (resets INFO commandstats)
  --script-stats         print Redis's time per script of each timed run (SLOWLOG at 0: slows the
                         run, so its other figures do not compare with a run without it)
  --replica              the throwaway Redis gets a replica (a second redis-server, replicaof it)
  --wait-replicas N      redis.waitReplicas of our orchestrator: acknowledgements wait for N
                         replicas (default 0; needs --replica, or a REDIS_URL with replicas)
  --max-seconds N        give up (and clean up) after N seconds (default 360)
  --out FILE             JSON output (default bench/results/latest.json)

Environment: REDIS_URL (on 127.0.0.1) to use an existing Redis instead of a throwaway one.`;

/** A bad command line: say what is wrong and stop, without a stack trace. */
function usage(message: string): never {
  console.error(`bench: ${message} (see --help)`);
  process.exit(2);
}

function parseArgs(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) usage(`unexpected argument "${a}"`);
    const eq = a.indexOf('=');
    if (eq > 0) out.set(a.slice(2, eq), a.slice(eq + 1));
    else if (a === '--help' || a === '--cpu-prof' || a === '--redis-stats' || a === '--script-stats' || a === '--replica') out.set(a.slice(2), 'true');
    else if (i + 1 < argv.length) out.set(a.slice(2), argv[++i]!);
    else usage(`${a} needs a value`);
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
if (args.has('help')) {
  console.log(HELP);
  process.exit(0);
}
const KNOWN = new Set([
  'help',
  'only',
  'tasks',
  'sandbox-tasks',
  'unary-tasks',
  'batch',
  'in-flight',
  'rate',
  'latency-seconds',
  'latency-warmup',
  'memory-tasks',
  'cpu-prof',
  'redis-stats',
  'script-stats',
  'replica',
  'wait-replicas',
  'max-seconds',
  'out',
  'cluster',
  'cluster-tasks',
]);
for (const k of args.keys()) if (!KNOWN.has(k)) usage(`unknown option --${k}`);

function num(name: string, dflt: number): number {
  const v = args.get(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) usage(`--${name}: expected a positive integer, got "${v}"`);
  return n;
}

/** --wait-replicas: 0 (off) or more. */
function waitReplicas(): number {
  const v = args.get('wait-replicas') ?? '0';
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) usage(`--wait-replicas: expected 0 or a positive integer, got "${v}"`);
  return n;
}

/** --cluster: master counts, each 1 to 16. */
function masterCounts(): number[] {
  const v = args.get('cluster') ?? '1,2,3';
  const list = v.split(',').map((x) => Number(x.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1 || n > 16))
    usage(`--cluster: expected master counts from 1 to 16, e.g. 1,2,3, got "${v}"`);
  return list;
}

const tasks = num('tasks', 20_000);
const opts: BenchOptions = {
  tasks,
  sandboxTasks: num('sandbox-tasks', Math.ceil(tasks / 2)),
  unaryTasks: num('unary-tasks', 10_000),
  batch: num('batch', 1_000),
  inFlight: num('in-flight', 64),
  rate: num('rate', 500),
  latencySeconds: num('latency-seconds', 10),
  latencyWarmupSeconds: num('latency-warmup', 5),
  memoryTasks: num('memory-tasks', 100_000),
  redisStats: args.has('redis-stats'),
  scriptStats: args.has('script-stats'),
  waitReplicas: waitReplicas(),
  clusterMasters: masterCounts(),
  clusterTasks: num('cluster-tasks', 8_000),
  childExecArgv: args.has('cpu-prof') ? ['--cpu-prof', `--cpu-prof-dir=${join(root, 'bench', 'results')}`] : [],
};
const only = (args.get('only') ?? '').split(',').filter(Boolean);
for (const s of only) if (!(SCENARIOS as readonly string[]).includes(s)) usage(`--only: unknown scenario "${s}" (known: ${SCENARIOS.join(', ')})`);
// The cluster scenario forms its clusters with redis-cli: in the default run it is left out,
// with a note, where that is missing; asked for by name, its absence is an error.
const clusterTools = findOnPath('redis-cli') !== undefined;
const selected = SCENARIOS.filter((s) => (only.length === 0 ? s !== 'cluster' || clusterTools : only.includes(s)));
if (only.length === 0 && !clusterTools) console.log('bench: redis-cli not found, so the cluster scenario is left out (install redis-tools)');
const out = args.get('out') ?? join(root, 'bench', 'results', 'latest.json');
// 360: the default run's 300 plus the cluster scenario's three clusters (about 30 s on a 2-core machine).
const maxSeconds = num('max-seconds', 360);

let redis: BenchRedis | undefined;
const emergencyStop = (why: string, code: number) => {
  console.error(why);
  killAllChildren();
  killBenchClusters();
  redis?.kill();
  process.exit(code);
};
process.once('SIGINT', () => emergencyStop('interrupted', 130));
process.once('SIGTERM', () => emergencyStop('terminated', 143));
const watchdog = setTimeout(() => emergencyStop(`bench: gave up after ${maxSeconds} s (--max-seconds)`, 2), maxSeconds * 1000);

async function main(): Promise<void> {
  const started = performance.now();
  redis = await benchRedis(process.env.REDIS_URL, { replica: args.has('replica') });
  const control = new Redis(redis.url, { maxRetriesPerRequest: null });
  const report = new Report();
  const ctx: BenchContext = { redisUrl: redis.url, control, report, opts, runId: `bench${Date.now().toString(36)}`, dir: here };
  const redisVersion = /^redis_version:(\S+)/m.exec(await control.info('server'))?.[1] ?? '?';
  console.log(
    `Orchestrator vs plain BullMQ on Redis ${redisVersion} at ${redis.url}${redis.pid ? ' (throwaway)' : ''}; ` +
      `${cpus().length} CPUs, Node ${process.version}; scenarios: ${selected.join(', ')}`,
  );

  try {
    for (const s of selected) {
      const t0 = performance.now();
      console.log(`\n${s}`);
      if (s === 'enqueue') await enqueue(ctx);
      else if (s === 'unary') await unary(ctx);
      else if (s === 'e2e-inproc') await endToEnd(ctx, 'inproc');
      else if (s === 'e2e-sandbox') await endToEnd(ctx, 'sandbox');
      else if (s === 'runner') await runnerScenario(ctx);
      else if (s === 'latency') await latency(ctx);
      else if (s === 'memory') await memory(ctx);
      else if (s === 'workflow') await workflow(ctx);
      else if (s === 'streams') await streams(ctx);
      else if (s === 'tracing') await tracingCost(ctx);
      else if (s === 'cluster') await cluster(ctx);
      console.log(`    (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }

    // Peak memory of the processes, where they were measured.
    const e = report.extra;
    if (e['e2e-inproc.ours.worker_peak_rss_mb'] !== undefined) {
      report.add({
        id: 'rss',
        scenario: 'peak RSS, worker process (in-process e2e)',
        unit: 'MiB',
        ours: e['e2e-inproc.ours.worker_peak_rss_mb']!,
        baseline: e['e2e-inproc.baseline.worker_peak_rss_mb']!,
      });
    }
    if (e['e2e-sandbox.ours.worker_peak_rss_mb'] !== undefined) {
      const sum = (side: string) => e[`e2e-sandbox.${side}.worker_peak_rss_mb`]! + e[`e2e-sandbox.${side}.children_peak_rss_mb`]!;
      report.add({
        id: 'rss',
        scenario: `peak RSS, worker + ${e['e2e-sandbox.ours.children']}/${e['e2e-sandbox.baseline.children']} sandbox children (sandboxed e2e)`,
        unit: 'MiB',
        ours: sum('ours'),
        baseline: sum('baseline'),
      });
    }
    report.add({
      id: 'rss',
      scenario: 'peak RSS, orchestrator (this process: gRPC server + client + bench)',
      unit: 'MiB',
      ours: process.resourceUsage().maxRSS / 1024,
      baseline: null,
    });

    console.log(`\n${report.table()}\n`);
    report.write(out, {
      at: new Date().toISOString(),
      seconds: Math.round((performance.now() - started) / 100) / 10,
      machine: { cpus: cpus().length, node: process.version, redis: redisVersion },
      options: { ...opts, childExecArgv: undefined, scenarios: selected },
    });
    console.log(`written to ${out} (${((performance.now() - started) / 1000).toFixed(1)} s in all)`);
  } finally {
    killAllChildren();
    control.disconnect();
    await redis.stop();
  }
}

try {
  await main();
  clearTimeout(watchdog);
} catch (err) {
  emergencyStop(`bench failed: ${(err as Error).stack ?? String(err)}`, 1);
}
