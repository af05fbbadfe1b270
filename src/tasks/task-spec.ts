/**
 * The task model: what a client submits, how it is validated, and what a BullMQ job carries.
 * Validation happens before anything is written, and names the field at fault.
 */
import * as crypto from 'node:crypto';
import type { TaskClassOptions, BackoffKind } from '../../queues/task-classes.js';
import type { ExecutorSpec } from '../executors/executor-spec.js';
import { executorInData, jobNameOf, type JobData } from '../store/codecs/job-data.js';
import { checkExecutorSpec } from '../executors/registry.js';
import { checkInt, listed, type ExecutorCheckContext } from '../executors/spec-checks.js';
import { permissionDenied, invalidArgument } from '../errors/errors.js';
import type { TraceCarrier } from '../tracing/trace-context.js';
import { DEFAULT_EXECUTOR_POLICY, type ExecutorPolicy } from '../executors/executor-policy.js';

// Each executor kind's spec and checks live in src/executors/ (one module per kind); these
// re-exports keep the task model's older import paths working.
export type {
  ExecutorSpec,
  CommandExecutorSpec,
  HttpExecutorSpec,
  ContainerExecutorSpec,
  SlurmExecutorSpec,
  ContainerMountSpec,
  HandlerExecutorSpec,
} from '../executors/executor-spec.js';
export { TEST_HANDLERS } from '../executors/handler.js';
export { HTTP_METHODS } from '../executors/http.js';
export { IMAGE_PATTERN_RE, CONTAINER_USER_RE, containerLimit } from '../executors/container.js';
export { SLURM_NAME_RE } from '../executors/slurm.js';
export type { ExecutorCheckContext };

export interface TaskSubmission {
  taskId?: string;
  taskClass: string;
  payload: Record<string, string>;
  /** 0..1000, higher runs first. @default 0 */
  priority?: number;
  /** The run whose step this task is; set by the workflow engine only (ValidateOptions.workflowStep). */
  workflowId?: string;
  /** 0 or unset: the class default. */
  maxAttempts?: number;
  backoff?: { type?: BackoffKind; delayMs: number };
  /** 0 or unset: the class default. */
  timeoutMs?: number;
  delayMs?: number;
  /** Unset: handler "echo". */
  executor?: ExecutorSpec;
  /** The schedule submitting the task (src/schedules/); not settable through SubmitTask. */
  scheduleId?: string;
  /** With scheduleId: the tick (ms) this task is for; a tick submits at most one task. */
  scheduleTickMs?: number;
  /**
   * The trace its spans continue (src/tracing/), set only while tracing is on. Not content: a
   * resubmission under another trace is the same task (it is not in the digest).
   */
  trace?: TraceCarrier;
}

/** What a BullMQ job's data holds. Kept small: it is stored once per task. */
/** A task's BullMQ job data; its stored form and key order are src/store/codecs/job-data.ts's contract. */
export type TaskJobData = JobData<ExecutorSpec>;

/** Attempts a task made before its last manual retry (TaskJobData.attemptsBefore). */
export const attemptsBefore = (data: TaskJobData | undefined): number => data?.attemptsBefore ?? 0;

/**
 * The attempt number of a job's last run (0 before its first), from its data and BullMQ's
 * attempts made in this round: attempt numbers go on across RetryTasks rounds, so (task_id,
 * attempt) stays unique. The run BullMQ hands over next is this plus one; the scripts that start
 * one compute it by the same rule (src/store/lua/includes/attempt-number.lua).
 */
export const lastAttempt = (data: TaskJobData | undefined, attemptsMade: number): number => attemptsBefore(data) + attemptsMade;

/** A validated submission, ready to enqueue. */
export interface ResolvedTask {
  taskId: string;
  taskClass: string;
  /** Content digest for idempotent resubmission (kept in the task index, not on the job). */
  digest: string;
  data: TaskJobData;
  /** BullMQ job name: the executor, for dashboards ("handler:echo", "command", "http"). */
  jobName: string;
  /** The checked executor; `data` holds it only where the job name does not say it (src/store/codecs/job-data.ts). */
  executor: ExecutorSpec;
  attempts: number;
  /** Only when the caller gave one: a task without runs with its class's backoff on the pool. */
  backoff?: { type: BackoffKind; delay: number };
  bullPriority: number;
  delayMs: number;
  /** The schedule tick this task is for (TaskSubmission.scheduleTickMs). */
  scheduleTickMs?: number;
}

export const MAX_PRIORITY = 1000;
/** BullMQ refuses job ids with ":" (its own repeat-job keys) and all-digit ones (its counters). */
const TASK_ID_RE = /^[A-Za-z0-9._-]{1,128}$/;
const ALL_DIGITS_RE = /^\d+$/;
export const MAX_ATTEMPTS = 1000;
export const MAX_TIMEOUT_MS = 7 * 24 * 3_600_000;
const MAX_DELAY_MS = 365 * 24 * 3_600_000;

export interface ValidateOptions {
  classes: ReadonlyMap<string, TaskClassOptions>;
  maxPayloadBytes: number;
  /** Field path prefix for messages, e.g. "tasks[3]". */
  field: string;
  /** What executors may do. @default DEFAULT_EXECUTOR_POLICY (no http calls, no container network) */
  executors?: ExecutorPolicy;
  /**
   * The workflow engine submitting a run's step task: the only submitter that may set
   * workflowId, since a task carrying a run's id feeds its outcome to that run. @default false
   */
  workflowStep?: boolean;
}

/**
 * BullMQ runs lower priority numbers first. A task of priority 0 gets BullMQ priority 0: its job
 * waits in the queue's wait list (FIFO, ~24 B a task where the prioritized set costs ~120 B),
 * which the pools take after the prioritized set (src/store/lua/includes/take-next-job.lua; BullMQ
 * itself takes the wait list first). Any other priority gets 1 + (1000 - priority): 1000 -> 1
 * (first), 1 -> 1000; equal priorities keep submission order.
 */
export function toBullPriority(priority: number): number {
  return priority > 0 ? 1 + (MAX_PRIORITY - priority) : 0;
}

/**
 * The inverse of toBullPriority. BullMQ priority 1001 is priority 0 too: the previous versions
 * queued every task of priority 0 so, and their jobs still run after an upgrade, in order.
 */
export function fromBullPriority(bullPriority: number): number {
  return bullPriority > 0 && bullPriority <= MAX_PRIORITY ? MAX_PRIORITY + 1 - bullPriority : 0;
}

const DEFAULT_EXECUTOR: ExecutorSpec = Object.freeze({ kind: 'handler', name: 'echo' });

/**
 * Validates an executor spec against the executors' policy and the class's: invalid_argument
 * for a malformed spec, permission_denied (naming the config key) for one the policy forbids.
 * The one check both the front end and the pool run (workers/job-admission.ts); each kind's
 * own checks are its module's (src/executors/<kind>.ts).
 */
export function checkExecutor(field: string, e: ExecutorSpec | undefined, c: ExecutorCheckContext): ExecutorSpec {
  const spec = e ?? DEFAULT_EXECUTOR;
  const { cls } = c;
  if (!cls.policy.executors.includes(spec.kind)) {
    throw permissionDenied(
      e ? `${field}.${spec.kind}` : field,
      `class ${cls.name} does not accept ${spec.kind} tasks${e ? '' : ' (a task without an executor runs the handler "echo")'} (classes.${cls.name}.policy.executors: ${listed(cls.policy.executors)})`,
    );
  }
  if (spec === DEFAULT_EXECUTOR) return spec;
  return checkExecutorSpec(field, spec, c);
}

function digestOf(t: TaskSubmission, executor: ExecutorSpec, priority: number): string {
  const payload = Object.keys(t.payload)
    .sort()
    .map((k) => [k, t.payload[k]]);
  const canonical = JSON.stringify([
    t.taskClass,
    payload,
    priority,
    t.workflowId ?? '',
    t.maxAttempts ?? 0,
    t.backoff ? [t.backoff.type ?? '', t.backoff.delayMs] : null,
    t.timeoutMs ?? 0,
    t.delayMs ?? 0,
    executor,
    // Only when set, so digests of tasks submitted otherwise stay what they were.
    ...(t.scheduleId ? [t.scheduleId] : []),
  ]);
  // The first 9 bytes (TASK_DIGEST_CHARS base64url characters: a prefix of the whole digest's,
  // which versions before the index buckets stored): enough to tell content apart among the
  // resubmissions of one id, at under half the index bytes.
  return sha1(canonical).subarray(0, 9).toString('base64url');
}

/** SHA-1 of a string: Node's one-shot crypto.hash where it has it (20.12 on), without a Hash object per call. */
const sha1: (s: string) => Buffer =
  typeof crypto.hash === 'function' ? (s) => crypto.hash('sha1', s, 'buffer') : (s) => crypto.createHash('sha1').update(s).digest();

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ID_LENGTH = 22;
const idPool = Buffer.alloc(4096);
let idPoolAt = idPool.length;
const ID_CODES = Buffer.from(ID_ALPHABET, 'latin1');
const idChars = Buffer.alloc(ID_LENGTH);

/**
 * A generated task id: 22 letters and digits, about 130 random bits. Shorter than a UUID (the id
 * is stored in five places per task: the job key, the queue, the index, the task list and every
 * event), with no "-" a command line could read as an option, and never all digits.
 */
export function newTaskId(): string {
  // Random bytes are taken from a pool refilled 4 KiB at a time: one call into the system's
  // generator per task cost more than the rest of the id.
  if (idPoolAt + ID_LENGTH > idPool.length) {
    crypto.randomFillSync(idPool);
    idPoolAt = 0;
  }
  const at = idPoolAt;
  idPoolAt += ID_LENGTH;
  // Characters written into a buffer and read as one string: no string per character.
  idChars[0] = ID_CODES[idPool[at]! % 52]!;
  for (let i = 1; i < ID_LENGTH; i++) idChars[i] = ID_CODES[idPool[at + i]! % 62]!;
  return idChars.toString('latin1', 0, ID_LENGTH);
}

/** Validate one submission and apply its class defaults. Throws invalid_argument. */
export function resolveTask(t: TaskSubmission, opts: ValidateOptions): ResolvedTask {
  const f = opts.field;
  const taskId = t.taskId || newTaskId();
  if (!TASK_ID_RE.test(taskId) || ALL_DIGITS_RE.test(taskId)) {
    throw invalidArgument(`${f}.task_id`, `"${taskId.slice(0, 140)}" must be 1-128 characters of A-Z a-z 0-9 . _ -, not all digits`);
  }
  const cls = opts.classes.get(t.taskClass);
  if (!cls) throw invalidArgument(`${f}.task_class`, `unknown class "${t.taskClass}" (known: ${[...opts.classes.keys()].join(', ')})`);
  const keys = Object.keys(t.payload);
  if (keys.length === 0) throw invalidArgument(`${f}.payload`, 'must not be empty');
  let bytes = 0;
  for (const k of keys) bytes += Buffer.byteLength(k) + Buffer.byteLength(t.payload[k]!);
  if (bytes > opts.maxPayloadBytes) throw invalidArgument(`${f}.payload`, `is ${bytes} bytes, over the limit of ${opts.maxPayloadBytes}`);
  const priority = checkInt(`${f}.priority`, t.priority, 0, MAX_PRIORITY);
  const maxAttempts = checkInt(`${f}.max_attempts`, t.maxAttempts, 0, MAX_ATTEMPTS);
  const timeoutMs = checkInt(`${f}.timeout_ms`, t.timeoutMs, 0, MAX_TIMEOUT_MS);
  const delayMs = checkInt(`${f}.delay_ms`, t.delayMs, 0, MAX_DELAY_MS);
  if (t.backoff) checkInt(`${f}.backoff.delay_ms`, t.backoff.delayMs, 0, MAX_DELAY_MS);
  if (t.workflowId && !opts.workflowStep)
    throw invalidArgument(`${f}.workflow_id`, "must be empty: the workflow engine sets it on the tasks of a run's steps (start a workflow run instead)");
  if (t.workflowId && !TASK_ID_RE.test(t.workflowId))
    throw invalidArgument(`${f}.workflow_id`, `"${t.workflowId.slice(0, 140)}" must be 1-128 characters of A-Z a-z 0-9 . _ -`);
  const executor = checkExecutor(`${f}.executor`, t.executor, {
    policy: opts.executors ?? DEFAULT_EXECUTOR_POLICY,
    cls,
    payload: t.payload,
    timeoutMs: timeoutMs || cls.timeoutMs,
    timeoutField: `${f}.timeout_ms`,
  });
  // Only what the job's name and the task's class do not say: a handler's executor is its job
  // name, and a task without its own timeout or backoff gets its class's on the pool that runs it
  // (src/store/codecs/job-data.ts).
  const jobName = jobNameOf(executor);
  const data: TaskJobData = { payload: t.payload };
  if (executorInData(jobName, executor)) data.executor = executor;
  if (timeoutMs) data.timeoutMs = timeoutMs;
  // Stored in src/store/codecs/job-data.ts's key order, whatever the order here. The trace is
  // set only when there is one: a task submitted with tracing off carries nothing more than before.
  if (t.scheduleId) data.scheduleId = t.scheduleId;
  if (t.trace) {
    data.traceparent = t.trace.traceparent;
    if (t.trace.tracestate) data.tracestate = t.trace.tracestate;
  }
  if (t.workflowId) data.workflowId = t.workflowId;
  return {
    taskId,
    taskClass: cls.name,
    digest: digestOf(t, executor, priority),
    data,
    jobName,
    executor,
    attempts: maxAttempts || cls.attempts,
    ...(t.backoff ? { backoff: { type: t.backoff.type ?? cls.backoff.type, delay: t.backoff.delayMs } } : {}),
    bullPriority: toBullPriority(priority),
    delayMs,
    ...(t.scheduleId && t.scheduleTickMs !== undefined ? { scheduleTickMs: t.scheduleTickMs } : {}),
  };
}
