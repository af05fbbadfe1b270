/**
 * A task's BullMQ job, encoded as BullMQ's own add scripts take it (addPrioritizedJob,
 * addDelayedJob: a packed argument list, the data JSON and the packed options), so that the
 * claim script can add it in the same call (submitter.ts). Built the way Queue.addBulk builds it:
 * BullMQ's Job normalises the options (attempts, backoff), and the argument list has the slots
 * of Queue.add's for a job without parent, repeat or deduplication. test/submit.int.test.ts
 * checks the stored job against one Queue.add wrote.
 */
import { Job, type JobsOptions, type Queue } from 'bullmq';
import { packAddArgs, packAddOptions } from '../store/bullmq/add-args.js';
import type { ResolvedTask } from './task-spec.js';

export interface EncodedJob {
  args: Buffer;
  data: string;
  opts: Buffer;
}

/** The job options of a task, as the submitter has always given them to BullMQ. */
export function jobOptions(t: ResolvedTask): JobsOptions {
  return {
    jobId: t.taskId,
    attempts: t.attempts,
    backoff: t.backoff,
    priority: t.bullPriority,
    ...(t.delayMs > 0 ? { delay: t.delayMs } : {}),
  };
}

export function encodeJob(queue: Queue, t: ResolvedTask): EncodedJob {
  // Every task is prioritised (task-spec.ts), so it never takes BullMQ's standard add.
  if (!(t.bullPriority > 0)) throw new Error(`task ${t.taskId}: BullMQ priority ${t.bullPriority} is not prioritised`);
  const job = new Job(queue, t.jobName, t.data, jobOptions(t), t.taskId);
  // BullMQ stores options without undefined values, and under short names for a few (none of ours).
  const opts: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(job.opts)) if (v !== undefined) opts[k] = v;
  return {
    args: packAddArgs({ keyPrefix: queue.keys['']!, jobId: t.taskId, jobName: t.jobName, timestamp: job.timestamp }),
    data: JSON.stringify(t.data),
    opts: packAddOptions(opts),
  };
}
