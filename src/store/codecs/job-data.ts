/**
 * A task's BullMQ job data: the JSON in the job hash's `data` field, and the job as BullMQ's own
 * add scripts take it (addStandardJob, addPrioritizedJob, addDelayedJob: a packed argument list, the data JSON
 * and the packed options), so that the submit script can add it in the same call
 * (lua/tasks/submit-tasks.lua).
 *
 * Stored once per queued task, so it holds only what neither the job's name nor the task's class
 * says: `executor` is left out when the job name says it all (a handler's, "handler:<name>"), and
 * `timeoutMs` (here) and `backoff` (in the options) only when the caller gave them; the pool
 * applies its class's value where one is missing (workers/job-admission.ts,
 * workers/task-processor.ts). Readers get the executor from jobExecutor, never from
 * `data.executor`. The job id is the job's key, so the options do not repeat it.
 *
 * Contract (add fields, never rename or remove one; a field may be absent): the JSON's keys come
 * in JOB_DATA_KEYS' order, whatever order the object was built in, because Lua reads the JSON with
 * patterns instead of decoding it (includes/job-facts.lua, and the task list's page script):
 *   - scheduleId is first (read as '^{"scheduleId":"...'); data written before it moved there
 *     has it right after timeoutMs (',"timeoutMs":<n>,"scheduleId":"...'), and readers take both;
 *   - attemptsBefore is followed by "," or "}" (read as ',"attemptsBefore":<n>');
 *   - workflowId is last (read as ',"workflowId":"..."}' at the end of the JSON).
 * No reader depends on executor or timeoutMs being there. Payload values are strings, so none of
 * these patterns can match inside the payload. A new field goes before workflowId. Every writer
 * of job data goes through jobDataJson/orderedJobData (the submit script's, Queue.add's and the
 * retry's); test/job-data.int.test.ts runs the Lua reader on this codec's output, with and
 * without each optional field, and on data in the earlier layout.
 */
import type { JobsOptions, Queue } from 'bullmq';
import { packAddArgs } from '../bullmq/add-args.js';

/** A task's job data; `E` is the executor spec (src/executors/executor-spec.ts). */
export interface JobData<E = unknown> {
  /** First: Lua reads it from the start of the job's data. */
  scheduleId?: string;
  /** Absent when the job's name says it (jobExecutor); jobs queued by earlier versions always have it. */
  executor?: E;
  payload: Record<string, string>;
  /** Only when the caller gave one; else the class's timeout on the pool that runs the task. */
  timeoutMs?: number;
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
  'scheduleId',
  'executor',
  'payload',
  'timeoutMs',
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

/** The job name of a task run by `executor`: "handler:<name>" for a handler, else the kind ("command", "http"). */
export function jobNameOf(executor: { kind: string; name?: string }): string {
  return executor.kind === 'handler' ? `handler:${executor.name}` : executor.kind;
}

/**
 * Whether `executor` must be stored in the data of a job named `jobName`: not when the name says
 * it all (a handler spec of kind and name only, under the name jobNameOf gives it).
 */
export function executorInData(jobName: string, executor: object): boolean {
  const e = executor as { kind?: unknown; name?: unknown };
  return !(e.kind === 'handler' && Object.keys(e).length === 2 && typeof e.name === 'string' && jobName === `handler:${e.name}`);
}

const HANDLER_JOB_PREFIX = 'handler:';

/**
 * The executor of a job: its data's when stored there (every job an earlier version queued), else
 * the handler its name says; undefined when neither (the data is not a task's). Job data is
 * whatever is in Redis: the result is the stored value, unchecked (the pool checks it).
 */
export function jobExecutor<E>(job: { name: string; data: JobData<E> | undefined }): E | { kind: 'handler'; name: string } | undefined {
  const data: unknown = job.data;
  if (typeof data === 'object' && data !== null && (data as JobData<E>).executor !== undefined) return (data as JobData<E>).executor;
  const name = typeof job.name === 'string' ? job.name : '';
  return name.startsWith(HANDLER_JOB_PREFIX) ? { kind: 'handler', name: name.slice(HANDLER_JOB_PREFIX.length) } : undefined;
}

/** The kind of a job's executor (jobExecutor), when it has one that names a kind. */
export function jobExecutorKind(job: { name: string; data: JobData | undefined }): string | undefined {
  const e: unknown = jobExecutor(job);
  const kind = typeof e === 'object' && e !== null ? (e as { kind?: unknown }).kind : undefined;
  return typeof kind === 'string' ? kind : undefined;
}

/** The parts of a task its job is made of. */
export interface JobSource {
  taskId: string;
  jobName: string;
  data: JobData;
  attempts: number;
  /** Only when the caller gave one; else the class's backoff on the pool that runs the task. */
  backoff?: { type: string; delay: number };
  bullPriority: number;
  delayMs: number;
}

export interface EncodedJob {
  /** BullMQ's packed add arguments: only for a delayed task, which BullMQ's own addDelayedJob adds. */
  args?: Buffer;
  /** The job's name and creation time (ms), which the submit script stores as BullMQ's add would. */
  name: string;
  timestamp: number;
  data: string;
  /** The job options' JSON (jobOptions). */
  opts: string;
}

/**
 * The job options of a task as stored: no jobId (the id is the job's key: BullMQ's Job.fromId
 * and our scripts take it from there), no backoff unless the caller gave one, and no priority
 * when it is 0 (BullMQ's default: the wait list; the job hash's own `priority` field says it).
 * Queue.add takes the id in its options (jobOptionsForAdd).
 */
export function jobOptions(t: JobSource): JobsOptions {
  return {
    attempts: t.attempts,
    ...(t.backoff ? { backoff: t.backoff } : {}),
    ...(t.bullPriority > 0 ? { priority: t.bullPriority } : {}),
    ...(t.delayMs > 0 ? { delay: t.delayMs } : {}),
  };
}

/** jobOptions with the id, as Queue.add takes it (it then stores the id in the options too). */
export function jobOptionsForAdd(t: JobSource): JobsOptions {
  return { jobId: t.taskId, ...jobOptions(t) };
}

/**
 * The job of `t` as the submit script takes it (src/store/lua/includes/add-tasks.lua). BullMQ's
 * Queue.addBulk builds a Job, whose constructor puts `attempts` first in the options and
 * normalises a numeric backoff (ours is always an object already), then packs the options with
 * msgpack: here they are those same options as JSON, which the script decodes (a whole batch of
 * strings is encoded for Redis in one piece, where one binary argument makes ioredis copy every
 * argument of the call into a buffer of its own). A delayed task also gets the argument list of
 * BullMQ's addDelayedJob, which adds it. test/submit.int.test.ts checks the stored job against
 * one Queue.add wrote.
 */
export function encodeJob(queue: Queue, t: JobSource): EncodedJob {
  const timestamp = Date.now();
  return {
    // The submit script adds a task without a delay itself, from the name and timestamp: an
    // unpacked argument list costs Redis less per task than a packed one.
    ...(t.delayMs > 0 ? { args: packAddArgs({ keyPrefix: queue.keys['']!, jobId: t.taskId, jobName: t.jobName, timestamp }) } : {}),
    name: t.jobName,
    timestamp,
    data: jobDataJson(t.data),
    opts: JSON.stringify(jobOptions(t)),
  };
}
