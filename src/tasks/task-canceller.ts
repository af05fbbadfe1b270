/**
 * CancelTask. The request is recorded first (`cancel` hash) and announced on the cancel channel,
 * then a queued task is taken out of its queue together with its outcome on the feeds (one
 * script: a crash cannot leave a task gone from its queue with no final result); a running one
 * is aborted by the pool that runs it, which writes the outcome. A pool that starts a task checks
 * the record, so a cancel that raced with the start, or whose message a pool missed, still takes
 * effect.
 *
 * A task cancelled while queued keeps its job, moved to BullMQ's failed set with its finish time
 * and reason, exactly as a running task's cancel leaves it: its status still answers its attempts
 * made and allowed, submit time, priority and, for one waiting out a retry's backoff, the worker
 * and times of the attempt it ran; retention and PurgeTasks treat it as any finished task; and
 * a submit of the same task again finds it (cancelled) instead of queueing it anew.
 */
import { Job } from 'bullmq';
import type { RedisClient } from '../redis/redis-client.js';
import { cancelQueued, type CancelQueuedJob } from '../store/tasks/cancel-queued.js';
import { clearCancel } from '../store/tasks/clear-cancel.js';
import { requestCancel } from '../store/tasks/request-cancel.js';
import type { TaskEventRecord, TaskResultRecord } from '../store/codecs/feed-format.js';
import { CancelQueuedCode } from '../store/codes.js';
import type { Keys } from '../store/keys.js';
import { lastAttempt, type TaskJobData } from './task-spec.js';
import type { TaskQueues } from './task-queues.js';
import type { TaskState, TaskStatusReader } from './task-status.js';
import { mapState } from './task-status.js';
import type { WrittenKeys } from '../redis/replica-wait.js';

export interface TaskCancellerOptions {
  redis: RedisClient;
  keys: Keys;
  queues: TaskQueues;
  status: TaskStatusReader;
  eventsMaxLen: number;
  resultsMaxLen: number;
}

type CancelQueued = (job: CancelQueuedJob, atMs: number, reason: string, event: TaskEventRecord, result: TaskResultRecord) => Promise<number>;

export class TaskCanceller {
  /** The removal with its outcome, in one script (src/store/lua/tasks/cancel-queued.lua). */
  private readonly removeCancelled: CancelQueued;
  private readonly request: ReturnType<typeof requestCancel>;
  private readonly clear: ReturnType<typeof clearCancel>;

  constructor(private readonly opts: TaskCancellerOptions) {
    this.removeCancelled = cancelQueued(opts.redis, opts.keys, { events: opts.eventsMaxLen, results: opts.resultsMaxLen });
    this.request = requestCancel(opts.redis, opts.keys);
    this.clear = clearCancel(opts.redis, opts.keys);
  }

  /**
   * Returns the state right after the request (see CancelTaskResponse). `written`: where a
   * caller's acknowledgement notes what was written (src/redis/replica-wait.ts).
   */
  async cancel(taskId: string, reason: string, written?: WrittenKeys): Promise<TaskState> {
    const { queues } = this.opts;
    const { taskClass, cancelReason } = await this.opts.status.classOf(taskId);
    const queue = queues.of(taskClass, taskId);
    const job = (await Job.fromId(queue, taskId)) as Job<TaskJobData> | undefined;
    if (!job) return (await this.opts.status.get(taskId)).state;
    const before = await job.getState();
    // Finished: a cancel changes nothing, and one that ended it earlier still reads cancelled.
    if (before === 'completed' || before === 'failed') return mapState(before, cancelReason !== null);

    const why = reason || 'requested';
    await this.request(taskClass, taskId, why);
    written
      ?.note(this.opts.redis, this.opts.keys.cancelOf(taskClass, this.opts.keys.partitionOf(taskClass, taskId)))
      .note(this.opts.redis, queue.toKey(taskId));
    if (before !== 'active') {
      const now = Date.now();
      const base = {
        taskId,
        taskClass,
        attempt: lastAttempt(job.data, job.attemptsMade),
        workflowId: job.data.workflowId,
        scheduleId: job.data.scheduleId,
      };
      const removed = await this.removeCancelled(
        { taskId, jobKey: queue.toKey(taskId), queueKeys: queue.keys },
        now,
        `cancelled: ${why}`,
        { ...base, type: 'cancelled', atMs: now, detail: `cancelled: ${why}` },
        { ...base, state: 'cancelled', atMs: now, error: `cancelled: ${why}`, errorCode: 'cancelled', durationMs: 0 },
      );
      if (removed === CancelQueuedCode.Cancelled) return 'cancelled';
      // 0: it started (locked) between our look and the removal: its pool aborts it.
    }
    const after = await job.getState();
    if (after === 'completed') {
      await this.clear(taskClass, taskId);
      return 'succeeded';
    }
    return mapState(after, true);
  }
}
