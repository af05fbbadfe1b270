/**
 * The baseline's worker process: a plain BullMQ Worker (default options: no retention, no
 * feeds), in its own process as our pool is in its own.
 *
 *   node dist/bench/baseline-worker.js REDIS_URL PREFIX QUEUE CONCURRENCY inproc|sandbox
 *
 * inproc: an async processor function in this process. sandbox: the processor file
 * noop-processor.js, run by BullMQ in forked children (one per concurrency slot). The sandbox
 * uses BullMQ's CommonJS build: the ESM build's child entry uses extensionless imports that Node
 * cannot load as a main module, and the CJS Worker finds its own `classes/main.js` by __dirname.
 *
 * Completion is observed the plain BullMQ way, by counting the Worker's `completed` events: the
 * parent sends {waitFor: N} and gets {reached: count} once N jobs have completed in total.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type * as Bull from 'bullmq';

const [url, prefix, queue, concurrency, mode] = process.argv.slice(2) as [string, string, string, string, 'inproc' | 'sandbox'];
const bull: typeof Bull = mode === 'sandbox' ? (createRequire(import.meta.url)('bullmq') as typeof Bull) : await import('bullmq');
const connection = new Redis(url, { maxRetriesPerRequest: null });
const processor =
  mode === 'sandbox' ? join(dirname(fileURLToPath(import.meta.url)), 'noop-processor.js') : async (job: Bull.Job<Record<string, string>>) => job.data;
const worker = new bull.Worker(queue, processor, { connection, concurrency: Number(concurrency), prefix, useWorkerThreads: false });

let completed = 0;
let waitFor = Infinity;
const check = () => {
  if (completed >= waitFor) {
    waitFor = Infinity;
    process.send?.({ reached: completed });
  }
};
worker.on('completed', () => {
  completed++;
  check();
});
worker.on('error', (err) => console.error('baseline worker error:', err.message));
process.on('message', (msg: { waitFor?: number }) => {
  if (typeof msg.waitFor === 'number') {
    waitFor = msg.waitFor;
    check();
  }
});
process.on('SIGTERM', () => {
  void worker.close().finally(() => process.exit(0));
});
process.on('disconnect', () => process.exit(1));

await worker.waitUntilReady();
process.send?.({ ready: true });
