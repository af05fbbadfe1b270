/**
 * RetryTasks: run failed tasks again. A task qualifies when its job is in BullMQ's failed set
 * and no cancel was requested for it (a cancelled task stays cancelled: cancel is a decision,
 * not a fault). Its job goes back to its queue with a new round of attempts (BullMQ's count
 * reset, its allowance the attempts the task was submitted with, or the count the caller gave)
 * and a "requeued" event is written, carrying the attempt the task runs next: the same number as
 * the `started` event that follows it, so a reader can pair them. Attempt numbers go on counting
 * across rounds, so (task_id, attempt) stays unique; GetTaskStatus's attempts_made/max_attempts
 * count the round. Bull Board's Retry button lands here too (dashboard/board-retry.ts).
 *
 * By ids, each task succeeds or fails on its own (not_found, failed_precondition); by filter,
 * every failed task matching it is retried.
 *
 * A workflow's step task can be retried, but its run has already taken the failure: the run's
 * step stays failed (the engine ignores an outcome for a step already final).
 */
import { Job } from 'bullmq';
import type { RedisClient } from '../redis/redis-client.js';
import type { TaskEventRecord } from '../store/codecs/feed-format.js';
import { jobDataJson } from '../store/codecs/job-data.js';
import { RequeueFailedCode } from '../store/codes.js';
import type { Keys } from '../store/keys.js';
import { requeueFailed, type RequeueFailedJob } from '../store/tasks/requeue-failed.js';
import { OrchestratorError, invalidArgument, type ErrorCode } from '../errors/errors.js';
import type { TaskFilter, TaskLister } from './task-list.js';
import { checkFilter } from './task-list.js';
import { lastAttempt, MAX_ATTEMPTS, type TaskJobData } from './task-spec.js';
import type { TaskQueues } from './task-queues.js';
import { mapState, type TaskStatusReader } from './task-status.js';
import type { WrittenKeys } from '../redis/replica-wait.js';

export interface TaskRetrierOptions {
  redis: RedisClient;
  keys: Keys;
  queues: TaskQueues;
  status: TaskStatusReader;
  lister: TaskLister;
  eventsMaxLen: number;
}

type RequeueCommand = (job: RequeueFailedJob, dataJson: string, optsJson: string, event: TaskEventRecord) => Promise<number>;

/** Why reprocessJob refused, by its code. */
const REQUEUE_REFUSED: Record<number, string> = {
  [-1]: 'it is no longer retained',
  [-3]: 'it is no longer failed (retried by another request a moment ago)',
};

export interface RetryOutcome {
  retried: string[];
  errors: { taskId: string; code: ErrorCode; message: string }[];
  /** By filter: the call stopped at MAX_RETRY_IDS tasks and more may match (call again). */
  more?: boolean;
}

/** Most ids in one request, and most tasks one retry by filter looks at (a reply stays small). */
export const MAX_RETRY_IDS = 10_000;
/** Retries in flight at once. */
const PARALLEL = 64;

export class TaskRetrier {
  /**
   * BullMQ's reprocessJob with the job's new data and options and the "requeued" event, in one
   * script (src/store/lua/tasks/requeue-failed.lua).
   */
  private readonly requeue: RequeueCommand;

  constructor(private readonly opts: TaskRetrierOptions) {
    this.requeue = requeueFailed(opts.redis, opts.keys, opts.eventsMaxLen);
  }

  /**
   * `attempts`: the new round's attempts; undefined for the ones the task was submitted with.
   * `written`: where a caller's acknowledgement notes what was written (src/redis/replica-wait.ts).
   */
  async retryIds(ids: string[], attempts?: number, written?: WrittenKeys): Promise<RetryOutcome> {
    checkAttempts(attempts);
    if (ids.length > MAX_RETRY_IDS) throw invalidArgument('task_ids', `at most ${MAX_RETRY_IDS} ids, got ${ids.length}`);
    ids.forEach((id, i) => {
      if (!id) throw invalidArgument(`task_ids[${i}]`, 'must not be empty');
    });
    return this.retryAll(
      [...new Set(ids)].map((taskId) => ({ taskId })),
      attempts,
      written,
    );
  }

  /** Every failed task matching `filter` (whose states must be empty or just "failed"). */
  async retryMatching(filter: TaskFilter, attempts?: number, written?: WrittenKeys): Promise<RetryOutcome> {
    checkAttempts(attempts);
    if (filter.states.some((s) => s !== 'failed')) throw invalidArgument('filter.states', 'only failed tasks can be retried: leave empty or FAILED');
    checkFilter(filter, this.opts.queues);
    const out: RetryOutcome = { retried: [], errors: [], more: false };
    let seen = 0;
    for await (const batch of this.opts.lister.ids({ ...filter, states: ['failed'] }, MAX_RETRY_IDS)) {
      const o = await this.retryAll(batch, attempts, written);
      for (const id of o.retried) out.retried.push(id);
      for (const e of o.errors) out.errors.push(e);
      seen += batch.length;
    }
    // Retried tasks are failed no more, so the next call goes on with the rest.
    out.more = seen >= MAX_RETRY_IDS;
    return out;
  }

  private async retryAll(tasks: { taskId: string; taskClass?: string }[], attempts?: number, written?: WrittenKeys): Promise<RetryOutcome> {
    const out: RetryOutcome = { retried: [], errors: [] };
    for (let i = 0; i < tasks.length; i += PARALLEL) {
      await Promise.all(
        tasks.slice(i, i + PARALLEL).map(async (t) => {
          try {
            const jobKey = await this.retryOne(t.taskId, t.taskClass, attempts);
            written?.note(this.opts.redis, jobKey);
            out.retried.push(t.taskId);
          } catch (err) {
            if (!(err instanceof OrchestratorError)) throw err;
            out.errors.push({ taskId: t.taskId, code: err.code, message: err.message });
          }
        }),
      );
    }
    return out;
  }

  /** Returns the key of the job it requeued. */
  private async retryOne(taskId: string, knownClass?: string, attemptsGiven?: number): Promise<string> {
    const { redis, keys, queues } = this.opts;
    const { taskClass, cancelReason } = knownClass
      ? { taskClass: knownClass, cancelReason: await redis.hget(keys.cancelOf(knownClass, keys.partitionOf(knownClass, taskId)), taskId) }
      : await this.opts.status.classOf(taskId);
    const queue = queues.of(taskClass, taskId);
    const job = (await Job.fromId(queue, taskId)) as Job<TaskJobData> | undefined;
    if (!job) throw new OrchestratorError('not_found', `task "${taskId}" is no longer retained`);
    const state = await job.getState();
    if (state !== 'failed' || cancelReason !== null) {
      throw new OrchestratorError('failed_precondition', `task "${taskId}" is ${mapState(state, cancelReason !== null)}, not failed`);
    }
    // BullMQ's count restarts (a retry gets the task's full attempts again); ours goes on, so the
    // attempt numbers on events and results never repeat.
    const { submittedAttempts, ...rest } = job.data;
    const attempts = lastAttempt(job.data, job.attemptsMade);
    // The round's allowance: the caller's count, else the attempts the task was submitted with
    // (kept in the data once a count replaced them in the job's options).
    const submitted = submittedAttempts ?? job.opts.attempts ?? 1;
    const allowance = attemptsGiven ?? submitted;
    const keep = allowance !== submitted || submittedAttempts !== undefined ? { submittedAttempts: submitted } : {};
    const data = jobDataJson({ ...rest, attemptsBefore: attempts, ...keep });
    // BullMQ's options as stored (its own short names), with only `attempts` changed; read raw so
    // nothing else in them is rewritten. Unchanged options are left alone.
    let opts = '';
    if (allowance !== (job.opts.attempts ?? 1)) {
      const raw = await redis.hget(queue.toKey(taskId), 'opts');
      const parsed = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      opts = JSON.stringify({ ...parsed, attempts: allowance });
    }
    // The attempt the task runs next: its next "started" event carries the same number.
    const code = await this.requeue({ taskId, taskClass, jobKey: queue.toKey(taskId), queueKeys: queue.keys, lifo: Boolean(job.opts.lifo) }, data, opts, {
      type: 'requeued',
      taskId,
      taskClass,
      attempt: attempts + 1,
      atMs: Date.now(),
      workflowId: job.data.workflowId,
      scheduleId: job.data.scheduleId,
      detail: 'retried on request',
    });
    if (code !== RequeueFailedCode.Requeued) {
      throw new OrchestratorError('failed_precondition', `task "${taskId}" could not be retried: ${REQUEUE_REFUSED[code] ?? `BullMQ refused (code ${code})`}`);
    }
    return queue.toKey(taskId);
  }
}

/** The attempts of a retry's new round: 1..MAX_ATTEMPTS, the limit a submission has. */
function checkAttempts(attempts: number | undefined): void {
  if (attempts === undefined) return;
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > MAX_ATTEMPTS) {
    throw invalidArgument('attempts', `must be from 1 to ${MAX_ATTEMPTS} (or unset for the attempts each task was submitted with), got ${attempts}`);
  }
}
