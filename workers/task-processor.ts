/**
 * One attempt of one task, as a BullMQ processor: announce the start, run the executor under
 * the task's timeout and cancel signal, write the outcome to the feeds, and tell BullMQ what
 * happens next (complete, retry, fail for good, or hand back on shutdown).
 *
 * The "started" event is written by the script that handed the job over (src/store/bullmq/task-backend.ts), or
 * here when another one did. The final event and result are committed by the same script as
 * BullMQ's record of the outcome (src/store/bullmq/task-backend.ts): the processor leaves them in `outcomes` and
 * returns. A pool that dies before that script ran leaves a task that runs again
 * (at-least-once), never one that finished silently or twice. The attempt number is
 * attemptsMade + 1 (plus the attempts before a manual retry), so a rerun after a pool died
 * carries the same attempt as the run it repeats and consumers can drop a duplicate "started".
 */
import { DelayedError, UnrecoverableError, type Job, type Processor } from 'bullmq';
import type { RedisClient } from '../src/redis/redis-client.js';
import type { Logger } from '../src/logging/logger.js';
import type { FeedWriter } from '../src/feeds/feed-writer.js';
import type { Keys } from '../src/store/keys.js';
import { TaskError } from '../src/errors/errors.js';
import { lastAttempt, type TaskJobData } from '../src/tasks/task-spec.js';
import { AttemptStarts } from '../src/tasks/attempt-starts.js';
import type { TaskResultRecord } from '../src/store/codecs/feed-format.js';
import type { PendingOutcomes, PendingStarts } from '../src/store/bullmq/task-backend.js';
import type { ExecutionContext, Executor } from './executors/executor.js';
import type { GpuSlots } from './gpu-slots.js';
import type { JobAdmission } from './job-admission.js';
import type { TaskClassOptions } from '../queues/task-classes.js';
import { LockLost } from './run-locks.js';
import { failureOf, failureTrace, tailOf } from '../src/errors/task-failure.js';
import type { AttemptLogs } from './attempt-log.js';

/** The reason a pool aborts its running tasks when its shutdown grace runs out. */
export class HandBack extends Error {
  constructor() {
    super('handed back: pool shutting down');
    this.name = 'HandBack';
  }
}

export interface TaskProcessorOptions {
  redis: RedisClient;
  keys: Keys;
  feeds: FeedWriter;
  poolId: string;
  executors: ReadonlyMap<string, Executor<unknown>>;
  /** The pool's own check of each job against its config, before anything runs. */
  admission: JobAdmission;
  /** The task classes as this pool's config defines them (each class's maxResultBytes). */
  classes: ReadonlyMap<string, TaskClassOptions>;
  logger: Logger;
  /** Extra environment for the task's processes. */
  env?: Record<string, string>;
  /** The pool's GPUs and the classes whose tasks each hold one while they run. */
  gpus?: { classes: ReadonlySet<string>; slots: GpuSlots };
  /**
   * Aborted when the pool gives up waiting for running tasks on shutdown. The pool aborts each
   * running task's signal with a HandBack then; a task starting after that is handed back at once.
   */
  shutdownSignal: AbortSignal;
  /**
   * True while the pool drains (DrainPool). A task taken then (a Worker already waiting for one
   * when it paused) is handed back at once, no attempt used, for another pool to run.
   */
  draining?(): boolean;
  /**
   * Aborts the signal BullMQ gave the run of `taskId` holding lock `token` with `reason` (the
   * Worker's cancelRun): the one signal each run listens to, whatever stops it.
   */
  abort(taskClass: string, taskId: string, token: string, reason: Error): void;
  /** Called with the number of tasks running, whenever it changes. */
  onBusy?(running: number): void;
  /** Told when each attempt starts and ends (the pool's metrics). */
  observer?: AttemptObserver;
  eventsMaxLen: number;
  /** Bytes of a failed attempt's output kept with its error (pool.failureTailBytes). @default 4096 */
  failureTailBytes?: number;
  /** Where an attempt that ended for good leaves its outcome, for BullMQ's finish to commit. */
  outcomes: PendingOutcomes;
  /** Starts the queue backend's scripts already wrote (src/store/bullmq/task-backend.ts). */
  started: PendingStarts;
  /** Captures each attempt's output into its task's log; absent: nothing is captured. */
  logs?: AttemptLogs;
}

/** How an attempt ended, from the pool's point of view. */
export type AttemptOutcome = 'succeeded' | 'failed' | 'cancelled' | 'retried' | 'handed_back' | 'lock_lost';

export interface AttemptObserver {
  /** `queueWaitMs`: time from when the task could first run to its first attempt's start; undefined for later attempts. */
  started(taskClass: string, queueWaitMs: number | undefined): void;
  ended(taskClass: string, outcome: AttemptOutcome, runMs: number, timedOut: boolean): void;
}

/**
 * Gives a job without its own backoff its class's, from this pool's config, before BullMQ's
 * retry reads it (Job.moveToFailed computes the delay from the job's options): a task submitted
 * without a backoff stores none (src/store/codecs/job-data.ts) and retries as its class says
 * where it runs. Only the Job object in this process changes; the stored options stay as they are.
 */
function applyClassBackoff(job: Job, cls: TaskClassOptions | undefined): void {
  if (job.opts.backoff === undefined && cls) job.opts.backoff = { type: cls.backoff.type, delay: cls.backoff.delayMs };
}

function backoffDelay(job: Job): number {
  const b = job.opts.backoff;
  if (b === undefined) return 0;
  if (typeof b === 'number') return b;
  const delay = b.delay ?? 0;
  return b.type === 'exponential' ? Math.round(2 ** job.attemptsMade * delay) : delay;
}

/**
 * Why an attempt's signal was aborted, as an Error: a TaskError or HandBack this module passed,
 * a LockLost from the Worker's lock renewal (run-locks.ts), or BullMQ's own reason (a string)
 * read as a cancel.
 */
function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof TaskError || r instanceof HandBack || r instanceof LockLost
    ? r
    : new TaskError('cancelled', `cancelled: ${typeof r === 'string' ? r : 'requested'}`);
}

/** Normalise whatever an executor threw into a TaskError. */
function toTaskError(err: unknown, signal: AbortSignal): TaskError {
  const reason = signal.aborted ? abortReason(signal) : undefined;
  if (reason instanceof TaskError) {
    // The executor stopped because we asked it to; keep its detail (output tail) if it has one.
    return err instanceof TaskError && err.code === reason.code ? err : reason;
  }
  if (err instanceof TaskError) return err;
  const e = err as { message?: string; retryable?: boolean; name?: string };
  const message = e?.message || String(err);
  const retryable = e?.retryable !== false && e?.name !== 'UnrecoverableError';
  return new TaskError('task_failed', message, { retryable });
}

/** Most bytes of output tail in the trace BullMQ keeps of an attempt that is retried. */
const RETRIED_TRACE_TAIL_BYTES = 1024;

/** Used for a class this pool's config does not know (admission refuses its tasks anyway). */
const DEFAULT_MAX_RESULT_BYTES = 1 << 20;

/**
 * The result as stored JSON, or a result_too_large TaskError when it is over the class's limit.
 * Checked here, before the outcome is committed, for every executor alike: the stored result is
 * copied into the job, the results stream and every message that carries it.
 */
function resultJsonWithin(result: unknown, maxBytes: number, taskClass: string): string {
  const json = JSON.stringify(result ?? null);
  // A string of n UTF-16 units is at most 3n bytes of UTF-8: most results need no byte count.
  const bytes = json.length * 3 <= maxBytes ? json.length : Buffer.byteLength(json);
  if (bytes > maxBytes) {
    throw new TaskError('result_too_large', `result too large: ${bytes} bytes of JSON, over the limit of ${maxBytes} (classes.${taskClass}.maxResultBytes)`, {
      retryable: false,
    });
  }
  return json;
}

/** The JSON of a failure's detail, or undefined when there is none or it is over the limit. */
function detailJsonWithin(detail: Record<string, unknown> | undefined, maxBytes: number): string | undefined {
  if (!detail) return undefined;
  const json = JSON.stringify(detail);
  return Buffer.byteLength(json) <= maxBytes ? json : undefined;
}

/**
 * The error BullMQ records for a failed attempt: its message becomes the job's failedReason and
 * its stack the job's stacktrace entry (what Bull Board shows), so the stack is the task's own
 * failure as text, never a stack of the pool's code (that goes to the pool's debug log).
 */
function recordedError(error: Error, trace: string): Error {
  error.stack = trace;
  return error;
}

/** BullMQ's failedReason for a final failure; status reads the code back from its prefix. */
function failedReason(code: string | undefined, message: string): string {
  return code === 'timed_out' && !message.startsWith('timed out') ? `timed out: ${message}` : message;
}

export function createTaskProcessor(opts: TaskProcessorOptions): Processor<TaskJobData> {
  const { feeds, poolId, logger } = opts;
  const starts = new AttemptStarts({ redis: opts.redis, keys: opts.keys, eventsMaxLen: opts.eventsMaxLen });
  const { outcomes } = opts;
  let running = 0;

  return async (job: Job<TaskJobData>, token?: string, cancelSignal?: AbortSignal) => {
    const taskId = job.id!;
    const taskClass = job.queueName;
    const attempt = lastAttempt(job.data, job.attemptsMade) + 1;
    // Job data comes from Redis, which others can write: whatever it holds, the attempt ends with
    // an outcome (admission refuses what is not a task), never with an error thrown out of here.
    const data = (typeof job.data === 'object' && job.data !== null ? job.data : {}) as TaskJobData;
    const base = { taskId, taskClass, attempt, workflowId: data.workflowId, scheduleId: data.scheduleId, workerId: poolId };
    // Built only when something is logged: most attempts log nothing.
    const log = () => logger.child({ taskId, taskClass, attempt });
    const startedAt = Date.now();
    const cls = opts.classes.get(taskClass);
    const maxResultBytes = cls?.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
    applyClassBackoff(job, cls);

    /** Leave the final outcome for BullMQ's finish of this job to commit (src/store/bullmq/task-backend.ts). */
    const finish = (r: TaskResultRecord) =>
      outcomes.set(
        token ?? '',
        {
          type: r.state,
          taskId,
          taskClass,
          attempt,
          atMs: r.atMs,
          workflowId: base.workflowId,
          workerId: poolId,
          detail: r.error,
          scheduleId: base.scheduleId,
        },
        r,
      );

    // An outcome an earlier run of this job left on this pool (its finish failed) is not this one's.
    outcomes.clear(taskId);
    // Announce the start, and learn whether a cancel was requested while the task waited (a pool
    // that died may have missed the cancel message): done by the script that handed the job over,
    // else one call here.
    const early = opts.started.take(taskId);
    const cancelReason = early ? early.cancelReason : await starts.start({ ...base, type: 'started', atMs: startedAt });

    // BullMQ's signal for this attempt: cancels, the timeout and a hand-back on shutdown all
    // abort it, the first with its reason (a TaskError or HandBack). BullMQ always passes one to
    // a processor that takes it; the fallback only keeps the types honest.
    const signal = cancelSignal ?? new AbortController().signal;
    const abort = (reason: Error) => {
      if (!signal.aborted) opts.abort(taskClass, taskId, token ?? '', reason);
    };
    if (cancelReason !== null) abort(new TaskError('cancelled', `cancelled: ${cancelReason}`));
    if (opts.shutdownSignal.aborted || opts.draining?.()) abort(new HandBack());
    let timer: NodeJS.Timeout | undefined;
    opts.onBusy?.(++running);
    let gpu: string | undefined;
    opts.observer?.started(taskClass, attempt === 1 ? Math.max(0, startedAt - job.timestamp - (job.opts.delay ?? 0)) : undefined);
    let outcome: AttemptOutcome = 'failed';
    let timedOut = false;
    // Writes nothing until the task prints something; closed (flushed) before the outcome is
    // committed, so a reader that sees the final state finds every line.
    const output = opts.logs?.open(taskClass, taskId, attempt);

    try {
      const task = opts.admission.admit(taskClass, job);
      const executor = opts.executors.get(task.executor.kind);
      if (!executor) throw new TaskError('task_failed', `this pool has no "${task.executor.kind}" executor`, { retryable: true });
      if (signal.aborted) throw abortReason(signal);
      let env = opts.env ?? {};
      if (opts.gpus?.classes.has(taskClass)) {
        gpu = await opts.gpus.slots.acquire(signal);
        env = { ...env, CUDA_VISIBLE_DEVICES: gpu, NVIDIA_VISIBLE_DEVICES: gpu };
      }
      // The timeout counts the task's run, not its wait for a GPU.
      timer = setTimeout(() => abort(new TaskError('timed_out', `timed out after ${task.timeoutMs} ms`, { retryable: true })), task.timeoutMs);
      const ctx: ExecutionContext = {
        taskId,
        taskClass,
        attempt,
        maxAttempts: job.opts.attempts ?? 1,
        deadlineAtMs: Date.now() + task.timeoutMs,
        signal,
        env,
        gpu,
        progress: async (value) => {
          // A run that lost its task reports nothing more: the rerun's progress is the task's.
          if (signal.aborted && abortReason(signal) instanceof LockLost) return;
          await job.updateProgress(value as object);
          await feeds.event({ ...base, type: 'progress', atMs: Date.now(), detail: JSON.stringify(value) });
        },
        output,
      };
      const result = await executor.run(task.executor, task.payload, ctx);
      // A result that arrives after the abort still loses: the client was told it stopped.
      if (signal.aborted) throw abortReason(signal);
      const resultJson = resultJsonWithin(result, maxResultBytes, taskClass);
      const now = Date.now();
      finish({
        taskId,
        taskClass,
        attempt,
        atMs: now,
        state: 'succeeded',
        workflowId: base.workflowId,
        workerId: poolId,
        resultJson,
        durationMs: now - startedAt,
        scheduleId: base.scheduleId,
      });
      outcome = 'succeeded';
      return result ?? null;
    } catch (err) {
      if (signal.aborted && abortReason(signal) instanceof LockLost) {
        // The job is no longer this run's: its finish would be refused, and a rerun (here or on
        // another pool) owns the task and writes its outcome. This run writes nothing, and tells
        // BullMQ nothing either (a DelayedError makes it leave the job as it is).
        outcome = 'lock_lost';
        log().warn({ reason: abortReason(signal).message }, 'run stopped: its task is no longer its own');
        throw new DelayedError();
      }
      if (signal.aborted && abortReason(signal) instanceof HandBack) {
        // Back to the queue without using up an attempt; another pool picks it up. The
        // `retrying` event goes with the move, so a run that lost its lock meanwhile writes none.
        outcome = 'handed_back';
        outcomes.setRetry(token ?? '', { ...base, type: 'retrying', atMs: Date.now(), detail: abortReason(signal).message });
        try {
          await job.moveToDelayed(Date.now(), token);
          log().info('handed back (the pool is stopping or draining)');
        } catch (moveErr) {
          // Refused (the lock is gone: a rerun owns the task) or Redis unreachable (the lock runs
          // out and the stall check queues the task again): either way there is nothing to undo.
          log().warn({ err: moveErr }, 'could not hand the task back; the stall check will');
        }
        throw new DelayedError();
      }
      const e = toTaskError(err, signal);
      const now = Date.now();
      const failure = failureOf(e, opts.failureTailBytes ?? 4096);
      const trace = failureTrace(failure, attempt);
      // The operator sees the task's failure; the pool's own stack is for whoever debugs the pool.
      log().debug({ err }, 'attempt failed');
      timedOut = e.code === 'timed_out';
      if (timedOut) await feeds.count('timed_out', taskClass, taskId);
      // BullMQ's count against BullMQ's allowance: after RetryTasks, `attempt` goes on from the
      // attempts before it while the job's attempts start again (src/tasks/task-retry.ts).
      const allowed = job.opts.attempts ?? 1;
      if (e.code === 'cancelled' || !e.retryable || job.attemptsMade + 1 >= allowed) {
        const state = e.code === 'cancelled' ? 'cancelled' : 'failed';
        finish({
          ...base,
          state,
          atMs: now,
          error: e.message,
          errorCode: e.code,
          durationMs: now - startedAt,
          resultJson: detailJsonWithin(e.detail, maxResultBytes),
          failure,
        });
        outcome = state;
        log().info({ code: e.code, error: e.message }, `task ${state}`);
        throw recordedError(new UnrecoverableError(failedReason(e.code, e.message)), trace);
      }
      // Written by BullMQ's retry of the job (src/store/bullmq/task-backend.ts), only if this run still holds it.
      outcomes.setRetry(
        token ?? '',
        { ...base, type: 'retrying', atMs: now, detail: `${e.message} (retry in ${backoffDelay(job)} ms)` },
        `retried:${taskClass}`,
      );
      outcome = 'retried';
      // BullMQ keeps one trace per failed attempt in the job: an attempt that is retried keeps a
      // shorter tail, so a task of many attempts does not grow its record by the full tail each.
      throw recordedError(new Error(e.message), failureTrace({ ...failure, outputTail: tailOf(failure.outputTail, RETRIED_TRACE_TAIL_BYTES) }, attempt));
    } finally {
      await output?.close();
      if (gpu !== undefined) opts.gpus?.slots.release(gpu);
      clearTimeout(timer);
      opts.onBusy?.(--running);
      opts.observer?.ended(taskClass, outcome, Date.now() - startedAt, timedOut);
    }
  };
}
