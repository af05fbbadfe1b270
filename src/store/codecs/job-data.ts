/**
 * A task's BullMQ job data: the JSON in the job hash's `data` field, and the job as BullMQ's own
 * add scripts take it (addStandardJob, addPrioritizedJob, addDelayedJob: a packed argument list, the data JSON
 * and the packed options), so that the submit script can add it in the same call
 * (lua/tasks/submit-tasks.lua).
 *
 * Contract (add fields, never rename or remove one): the JSON's keys come in JOB_DATA_KEYS'
 * order, whatever order the object was built in, because Lua reads the JSON with patterns
 * instead of decoding it (includes/job-facts.lua, and the task list's page script):
 *   - scheduleId comes right after timeoutMs (read as ',"timeoutMs":<n>,"scheduleId":"...");
 *   - attemptsBefore is followed by "," or "}" (read as ',"attemptsBefore":<n>');
 *   - workflowId is last (read as ',"workflowId":"..."}' at the end of the JSON).
 * Payload values are strings, so none of these patterns can match inside the payload before its
 * own key. A new field goes before workflowId. Every writer of job data goes through
 * jobDataJson/orderedJobData (the submit script's, Queue.add's and the retry's);
 * test/job-data.int.test.ts runs the Lua reader on this codec's output.
 */
import { Job, type JobsOptions, type Queue } from 'bullmq';
import { packAddArgs, packAddOptions } from '../bullmq/add-args.js';

/** A task's job data; `E` is the executor spec (src/executors/executor-spec.ts). */
export interface JobData<E = unknown> {
  executor: E;
  payload: Record<string, string>;
  timeoutMs: number;
  scheduleId?: string;
  /** W3C trace context of the span that submitted the task (src/tracing/); only while tracing is on. */
  traceparent?: string;
  tracestate?: string;
  /**
   * Attempts made before the last RetryTasks (which restarts BullMQ's count): attempt numbers
   * go on from here, so (task_id, attempt) stays unique across retries.
   */
  attemptsBefore?: number;
  /** The attempts the task was submitted with, kept once a RetryTasks gave it another count. */
  submittedAttempts?: number;
  /** Last: Lua reads it from the end of the job's data. */
  workflowId?: string;
}

/** The stored order of the keys (see the contract above). */
export const JOB_DATA_KEYS = [
  'executor',
  'payload',
  'timeoutMs',
  'scheduleId',
  'traceparent',
  'tracestate',
  'attemptsBefore',
  'submittedAttempts',
  'workflowId',
] as const satisfies readonly (keyof JobData)[];

/**
 * `data` with its keys in JOB_DATA_KEYS' order (undefined ones left out), for writers that take
 * an object (Queue.add). Keys this codec does not know (data written by a newer version) are
 * kept, before workflowId.
 */
export function orderedJobData<D extends JobData>(data: D): D {
  const out: Record<string, unknown> = {};
  for (const k of JOB_DATA_KEYS) if (k !== 'workflowId' && data[k] !== undefined) out[k] = data[k];
  for (const [k, v] of Object.entries(data)) if (!(k in out) && k !== 'workflowId' && v !== undefined) out[k] = v;
  if (data.workflowId !== undefined) out.workflowId = data.workflowId;
  return out as D;
}

/** The job hash's `data` field for `data`. */
export function jobDataJson(data: JobData): string {
  return JSON.stringify(orderedJobData(data));
}

/** The parts of a task its job is made of. */
export interface JobSource {
  taskId: string;
  jobName: string;
  data: JobData;
  attempts: number;
  backoff: { type: string; delay: number };
  bullPriority: number;
  delayMs: number;
}

export interface EncodedJob {
  args: Buffer;
  data: string;
  opts: Buffer;
}

/** The job options of a task, as the submitter has always given them to BullMQ. */
export function jobOptions(t: JobSource): JobsOptions {
  return {
    jobId: t.taskId,
    attempts: t.attempts,
    backoff: t.backoff,
    priority: t.bullPriority,
    ...(t.delayMs > 0 ? { delay: t.delayMs } : {}),
  };
}

/**
 * The job of `t` as BullMQ's add scripts take it. Built the way Queue.addBulk builds it: BullMQ's
 * Job normalises the options (attempts, backoff), and the argument list has the slots of
 * Queue.add's for a job without parent, repeat or deduplication. test/submit.int.test.ts checks
 * the stored job against one Queue.add wrote.
 */
export function encodeJob(queue: Queue, t: JobSource): EncodedJob {
  const job = new Job(queue, t.jobName, t.data, jobOptions(t), t.taskId);
  // BullMQ stores options without undefined values, and under short names for a few (none of ours).
  const opts: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(job.opts)) if (v !== undefined) opts[k] = v;
  return {
    args: packAddArgs({ keyPrefix: queue.keys['']!, jobId: t.taskId, jobName: t.jobName, timestamp: job.timestamp }),
    data: jobDataJson(t.data),
    opts: packAddOptions(opts),
  };
}
