/**
 * RetryTasks: run failed tasks again. A task qualifies when its job is in BullMQ's failed set
 * and no cancel was requested for it (a cancelled task stays cancelled: cancel is a decision,
 * not a fault). Its job goes back to its queue with attempts reset (BullMQ's Job.retry) and a
 * "requeued" event is written.
 *
 * By ids, each task succeeds or fails on its own (not_found, failed_precondition); by filter,
 * every failed task matching it is retried.
 *
 * A workflow's step task can be retried, but its run has already taken the failure: the run's
 * step stays failed (the engine ignores an outcome for a step already final).
 */
import { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { FeedWriter } from '../feeds/feed-writer.js';
import type { Keys } from '../redis/keys.js';
import { OrchestratorError, invalidArgument, type ErrorCode } from './errors.js';
import type { TaskFilter, TaskLister } from './task-list.js';
import { checkFilter } from './task-list.js';
import { attemptsBefore, type TaskJobData } from './task-spec.js';
import type { TaskQueues } from './task-queues.js';
import { mapState, type TaskStatusReader } from './task-status.js';

export interface TaskRetrierOptions {
  redis: Redis;
  keys: Keys;
  queues: TaskQueues;
  status: TaskStatusReader;
  lister: TaskLister;
  feeds: FeedWriter;
}

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
  constructor(private readonly opts: TaskRetrierOptions) {}

  async retryIds(ids: string[]): Promise<RetryOutcome> {
    if (ids.length > MAX_RETRY_IDS) throw invalidArgument('task_ids', `at most ${MAX_RETRY_IDS} ids, got ${ids.length}`);
    ids.forEach((id, i) => {
      if (!id) throw invalidArgument(`task_ids[${i}]`, 'must not be empty');
    });
    return this.retryAll([...new Set(ids)].map((taskId) => ({ taskId })));
  }

  /** Every failed task matching `filter` (whose states must be empty or just "failed"). */
  async retryMatching(filter: TaskFilter): Promise<RetryOutcome> {
    if (filter.states.some((s) => s !== 'failed')) throw invalidArgument('filter.states', 'only failed tasks can be retried: leave empty or FAILED');
    checkFilter(filter, this.opts.queues);
    const out: RetryOutcome = { retried: [], errors: [], more: false };
    let seen = 0;
    for await (const batch of this.opts.lister.ids({ ...filter, states: ['failed'] }, MAX_RETRY_IDS)) {
      const o = await this.retryAll(batch);
      for (const id of o.retried) out.retried.push(id);
      for (const e of o.errors) out.errors.push(e);
      seen += batch.length;
    }
    // Retried tasks are failed no more, so the next call goes on with the rest.
    out.more = seen >= MAX_RETRY_IDS;
    return out;
  }

  private async retryAll(tasks: { taskId: string; taskClass?: string }[]): Promise<RetryOutcome> {
    const out: RetryOutcome = { retried: [], errors: [] };
    for (let i = 0; i < tasks.length; i += PARALLEL) {
      await Promise.all(
        tasks.slice(i, i + PARALLEL).map(async (t) => {
          try {
            await this.retryOne(t.taskId, t.taskClass);
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

  private async retryOne(taskId: string, knownClass?: string): Promise<void> {
    const { redis, keys, queues, feeds } = this.opts;
    const { taskClass, cancelReason } = knownClass
      ? { taskClass: knownClass, cancelReason: await redis.hget(keys.cancel, taskId) }
      : await this.opts.status.classOf(taskId);
    const job = (await Job.fromId(queues.get(taskClass), taskId)) as Job<TaskJobData> | undefined;
    if (!job) throw new OrchestratorError('not_found', `task "${taskId}" is no longer retained`);
    const state = await job.getState();
    if (state !== 'failed' || cancelReason !== null) {
      throw new OrchestratorError('failed_precondition', `task "${taskId}" is ${mapState(state, cancelReason !== null)}, not failed`);
    }
    // BullMQ's count restarts (a retry gets the task's full attempts again); ours goes on, so the
    // attempt numbers on events and results never repeat. workflowId stays last (task-list.ts).
    const { workflowId, ...rest } = job.data;
    const attempts = attemptsBefore(job.data) + job.attemptsMade;
    await job.updateData({ ...rest, attemptsBefore: attempts, ...(workflowId ? { workflowId } : {}) });
    try {
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    } catch (err) {
      // Retried by another request a moment ago, or removed by retention.
      throw new OrchestratorError('failed_precondition', `task "${taskId}" could not be retried: ${(err as Error).message}`);
    }
    await feeds.event({
      type: 'requeued',
      taskId,
      taskClass,
      attempt: attempts,
      atMs: Date.now(),
      workflowId: job.data.workflowId,
      scheduleId: job.data.scheduleId,
      detail: 'retried on request',
    });
  }
}
