/**
 * The baseline's worker process: a plain BullMQ Worker (default options: no retention, no
 * feeds), in its own process as our pool is in its own.
 *
 *   node dist/bench/baseline-worker.js REDIS_URL PREFIX QUEUE[,QUEUE...] CONCURRENCY inproc|sandbox
 *
 * Several queues (the cluster scenario's): one Worker per queue, each with CONCURRENCY, each
 * queue under its own hash-tagged prefix (bench-config.ts clusterBullPrefix); completions are
 * counted over all of them. REDIS_URL may name a Redis Cluster (several hosts).
 *
 * inproc: an async processor function in this process. sandbox: the processor file
 * noop-processor.js, run by BullMQ in forked children (one per concurrency slot). The sandbox
 * uses BullMQ's CommonJS build: the ESM build's child entry uses extensionless imports that Node
 * cannot load as a main module, and the CJS Worker finds its own `classes/main.js` by __dirname.
 *
 * With a sixth argument `like-ours`, the Worker gets the options our pool gives its Workers
 * (workers/worker-pool.ts: worker name, lock and stall timings, retention), from the same bench
 * config; the jobs then carry our job options too (scenarios.ts). That measures what BullMQ
 * itself costs when configured like this system, apart from our code.
 *
 * Completion is observed the plain BullMQ way, by counting the Worker's `completed` events: the
 * parent sends {waitFor: N} and gets {reached: count} once N jobs have completed in total.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Bull from 'bullmq';
import { createRedis } from '../src/redis/connection.js';
import { benchConfig, clusterBullPrefix, INPROC_CLASS, SANDBOX_CLASS } from './bench-config.js';

const [url, prefix, queueList, concurrency, mode, variant] = process.argv.slice(2) as [string, string, string, string, 'inproc' | 'sandbox', string?];
const queues = queueList.split(',');
const bull: typeof Bull = mode === 'sandbox' ? (createRequire(import.meta.url)('bullmq') as typeof Bull) : await import('bullmq');
const connection = createRedis(url);
const processor =
  mode === 'sandbox'
    ? join(dirname(fileURLToPath(import.meta.url)), 'noop-processor.js')
    : async (job: Bull.Job<Record<string, unknown>>) => (variant === 'like-ours' ? job.data.payload : job.data);

/** Our pool's Worker options for the bench class of this mode (see workers/worker-pool.ts). */
function likeOursOptions(): Partial<Bull.WorkerOptions> {
  const cls = benchConfig({ redisUrl: url, prefix }).classes.get(mode === 'sandbox' ? SANDBOX_CLASS : INPROC_CLASS)!;
  return {
    name: 'bench-pool',
    lockDuration: cls.lockDurationMs,
    stalledInterval: cls.stalledIntervalMs,
    maxStalledCount: cls.maxStalledCount,
    removeOnComplete: { count: cls.keepCompleted.count, age: Math.ceil(cls.keepCompleted.ageMs / 1000) },
    removeOnFail: { count: cls.keepFailed.count, age: Math.ceil(cls.keepFailed.ageMs / 1000) },
  };
}

const workers = queues.map(
  (queue) =>
    new bull.Worker(queue, processor, {
      connection,
      concurrency: Number(concurrency),
      prefix: queues.length > 1 ? clusterBullPrefix(prefix, queue) : prefix,
      useWorkerThreads: false,
      ...(variant === 'like-ours' ? likeOursOptions() : {}),
    }),
);

let completed = 0;
let waitFor = Infinity;
const check = () => {
  if (completed >= waitFor) {
    waitFor = Infinity;
    process.send?.({ reached: completed });
  }
};
for (const worker of workers) {
  worker.on('completed', () => {
    completed++;
    check();
  });
  worker.on('error', (err) => console.error('baseline worker error:', err.message));
}
process.on('message', (msg: { waitFor?: number }) => {
  if (typeof msg.waitFor === 'number') {
    waitFor = msg.waitFor;
    check();
  }
});
process.on('SIGTERM', () => {
  void Promise.all(workers.map((w) => w.close())).finally(() => process.exit(0));
});
process.on('disconnect', () => process.exit(1));

await Promise.all(workers.map((w) => w.waitUntilReady()));
process.send?.({ ready: true });
