/**
 * BullMQ's sandbox children (ChildPool: forked processes or worker threads, and the messages
 * they exchange), which workers/sandbox/sandbox-runner.ts drives directly instead of through a
 * Worker's processor file. ChildPool and its entry files are BullMQ internals, so they are
 * reached only through here.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ChildPool } from 'bullmq';

export { ChildCommand, ParentCommand, type Child, type ChildPool } from 'bullmq';

// BullMQ's child entry files; the CommonJS build, because its ESM build uses extensionless
// imports that Node cannot load directly.
const bullmqChildDir = join(dirname(createRequire(import.meta.url).resolve('bullmq')), 'classes');

/** A pool of BullMQ sandbox children, forked processes or worker threads. */
export function createChildPool(useWorkerThreads: boolean): ChildPool {
  return new ChildPool({ mainFile: join(bullmqChildDir, useWorkerThreads ? 'main-worker.js' : 'main.js'), useWorkerThreads });
}
