/**
 * The baseline: a plain BullMQ Worker in its own process, as our pool runs in its own.
 *   node dist/bench/baseline-worker.js URL QUEUE CONCURRENCY inproc|sandbox
 * Uses BullMQ's CommonJS build, whose sandbox can locate its child entry file.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type * as Bull from 'bullmq';

const { Worker } = createRequire(import.meta.url)('bullmq') as typeof Bull;
const [url, queue, concurrency, mode] = process.argv.slice(2);
const connection = new Redis(url!, { maxRetriesPerRequest: null });
const processor = mode === 'sandbox' ? join(dirname(fileURLToPath(import.meta.url)), 'noop-processor.js') : async (job: { data: unknown }) => job.data;
const worker = new Worker(queue!, processor as never, { connection, concurrency: Number(concurrency), prefix: 'base' });
worker.on('error', () => undefined);
process.on('SIGTERM', () => {
  void worker.close().then(() => process.exit(0));
});
process.send?.('ready');
