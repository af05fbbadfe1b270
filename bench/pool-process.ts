/**
 * Our side's worker process: one WorkerPool serving the bench classes named, as workers/main.ts
 * runs it in production, but configured from arguments only (bench-config.ts).
 *
 *   node dist/bench/pool-process.js REDIS_URL PREFIX CLASS[,CLASS...] CONCURRENCY [OTLP_ENDPOINT] [HOT_PARTITIONS] [RUNNER_ADDRESS]
 *
 * Several classes (the cluster scenario's) each get CONCURRENCY. HOT_PARTITIONS: the partitions
 * of the cluster scenario's hot class, which must match the orchestrator's (an empty
 * OTLP_ENDPOINT before it: no tracing). RUNNER_ADDRESS: the runner scenario's task runner (empty
 * arguments before it for none).
 *
 * Sends {ready: true} once the pool has started; SIGTERM closes it; it exits when the bench
 * that forked it goes away.
 */
import '../src/process/v8-tuning.js'; // first: V8 settings before any other module is compiled
import { createLogger } from '../src/logging/logger.js';
import { WorkerPool } from '../workers/worker-pool.js';
import { benchConfig, CLUSTER_CLASSES } from './bench-config.js';

const [redisUrl, prefix, classList, concurrency, tracingEndpoint, hotPartitions, runnerAddress] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string | undefined,
  string | undefined,
];
const classes = classList.split(',');
const config = benchConfig({
  redisUrl,
  prefix,
  poolId: `bench-pool-${process.pid}`,
  poolClasses: Object.fromEntries(classes.map((c) => [c, Number(concurrency)])),
  tracingEndpoint: tracingEndpoint || undefined,
  runnerAddress: runnerAddress || undefined,
  clusterClasses: classes.some((c) => (CLUSTER_CLASSES as readonly string[]).includes(c)),
  hotPartitions: hotPartitions ? Number(hotPartitions) : undefined,
});
const pool = new WorkerPool({ config, redisUrl, logger: createLogger('warn', { process: 'bench-pool' }) });

process.on('SIGTERM', () => {
  void pool.close(1_000).finally(() => process.exit(0));
});
process.on('disconnect', () => process.exit(1));

await pool.start();
process.send?.({ ready: true });
