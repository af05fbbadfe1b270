/**
 * CancelTask. The request is recorded first (`cancel` hash) and announced on the cancel channel,
 * then a queued task is removed from its queue; a running one is aborted by the pool that runs
 * it, which writes the outcome. A pool that starts a task checks the record, so a cancel that
 * raced with the start, or whose message a pool missed, still takes effect.
 */
import { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { FeedWriter } from '../feeds/feed-writer.js';
import type { Keys } from '../redis/keys.js';
import { attemptsBefore, type TaskJobData } from './task-spec.js';
import type { TaskQueues } from './task-queues.js';
import type { TaskState, TaskStatusReader } from './task-status.js';
import { mapState } from './task-status.js';

export interface TaskCancellerOptions {
  redis: Redis;
  keys: Keys;
  queues: TaskQueues;
  status: TaskStatusReader;
  feeds: FeedWriter;
}

export class TaskCanceller {
  constructor(private readonly opts: TaskCancellerOptions) {}

  /** Returns the state right after the request (see CancelTaskResponse). */
  async cancel(taskId: string, reason: string): Promise<TaskState> {
    const { redis, keys, queues, feeds } = this.opts;
    const { taskClass } = await this.opts.status.classOf(taskId);
    const job = (await Job.fromId(queues.get(taskClass), taskId)) as Job<TaskJobData> | undefined;
    if (!job) return (await this.opts.status.get(taskId)).state;
    const before = await job.getState();
    if (before === 'completed' || before === 'failed') return mapState(before, false);

    const why = reason || 'requested';
    await redis.multi().hset(keys.cancel, taskId, why).publish(keys.cancelChannel, `${taskId}\t${why}`).exec();
    if (before !== 'active') {
      try {
        await job.remove();
        const now = Date.now();
        const base = {
          taskId,
          taskClass,
          attempt: attemptsBefore(job.data) + job.attemptsMade,
          workflowId: job.data.workflowId,
          scheduleId: job.data.scheduleId,
        };
        await feeds.final(
          { ...base, type: 'cancelled', atMs: now, detail: `cancelled: ${why}` },
          { ...base, state: 'cancelled', atMs: now, error: `cancelled: ${why}`, errorCode: 'cancelled', durationMs: 0 },
        );
        return 'cancelled';
      } catch {
        // It started (locked) between our look and the removal: its pool aborts it.
      }
    }
    const after = await job.getState();
    if (after === 'completed') {
      await redis.hdel(keys.cancel, taskId);
      return 'succeeded';
    }
    return mapState(after, true);
  }
}
