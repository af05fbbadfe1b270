/**
 * Our side's worker process: one WorkerPool serving the bench classes named, as workers/main.ts
 * runs it in production, but configured from arguments only (bench-config.ts).
 *
 *   node dist/bench/pool-process.js REDIS_URL PREFIX CLASS[,CLASS...] CONCURRENCY [OTLP_ENDPOINT]
 *
 * Several classes (the cluster scenario's) each get CONCURRENCY.
 *
 * Sends {ready: true} once the pool has started; SIGTERM closes it; it exits when the bench
 * that forked it goes away.
 */
import '../src/process/v8-tuning.js'; // first: V8 settings before any other module is compiled
import { createLogger } from '../src/logging/logger.js';
import { WorkerPool } from '../workers/worker-pool.js';
import { benchConfig, CLUSTER_CLASSES } from './bench-config.js';

const [redisUrl, prefix, classList, concurrency, tracingEndpoint] = process.argv.slice(2) as [string, string, string, string, string | undefined];
const classes = classList.split(',');
const config = benchConfig({
  redisUrl,
  prefix,
  poolId: `bench-pool-${process.pid}`,
  poolClasses: Object.fromEntries(classes.map((c) => [c, Number(concurrency)])),
  tracingEndpoint,
  clusterClasses: classes.some((c) => (CLUSTER_CLASSES as readonly string[]).includes(c)),
});
const pool = new WorkerPool({ config, redisUrl, logger: createLogger('warn', { process: 'bench-pool' }) });

process.on('SIGTERM', () => {
  void pool.close(1_000).finally(() => process.exit(0));
});
process.on('disconnect', () => process.exit(1));

await pool.start();
process.send?.({ ready: true });
