/**
 * Our side's worker process: one WorkerPool serving one bench class, as workers/main.ts runs it
 * in production, but configured from arguments only (bench-config.ts).
 *
 *   node dist/bench/pool-process.js REDIS_URL PREFIX CLASS CONCURRENCY [OTLP_ENDPOINT]
 *
 * Sends {ready: true} once the pool has started; SIGTERM closes it; it exits when the bench
 * that forked it goes away.
 */
import '../src/process/v8-tuning.js'; // first: V8 settings before any other module is compiled
import { createLogger } from '../src/logging/logger.js';
import { WorkerPool } from '../workers/worker-pool.js';
import { benchConfig } from './bench-config.js';

const [redisUrl, prefix, taskClass, concurrency, tracingEndpoint] = process.argv.slice(2) as [string, string, string, string, string | undefined];
const config = benchConfig({ redisUrl, prefix, poolId: `bench-pool-${process.pid}`, poolClasses: { [taskClass]: Number(concurrency) }, tracingEndpoint });
const pool = new WorkerPool({ config, redisUrl, logger: createLogger('warn', { process: 'bench-pool' }) });

process.on('SIGTERM', () => {
  void pool.close(1_000).finally(() => process.exit(0));
});
process.on('disconnect', () => process.exit(1));

await pool.start();
process.send?.({ ready: true });
