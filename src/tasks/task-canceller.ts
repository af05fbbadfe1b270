/**
 * CancelTask. The request is recorded first (`cancel` hash) and announced on the cancel channel,
 * then a queued task is removed from its queue together with its outcome on the feeds (one
 * script: a crash cannot leave a task gone from its queue with no final result); a running one
 * is aborted by the pool that runs it, which writes the outcome. A pool that starts a task checks
 * the record, so a cancel that raced with the start, or whose message a pool missed, still takes
 * effect.
 */
import { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { outcomeArgv, outcomeKeys, outcomeWritesLua } from '../feeds/outcome-writes.js';
import { bullmqFunction } from '../redis/bullmq-scripts.js';
import type { Keys } from '../redis/keys.js';
import { attemptsBefore, type TaskJobData } from './task-spec.js';
import type { TaskQueues } from './task-queues.js';
import type { TaskState, TaskStatusReader } from './task-status.js';
import { mapState } from './task-status.js';
import { luaCommand } from '../redis/lua-command.js';

export interface TaskCancellerOptions {
  redis: Redis;
  keys: Keys;
  queues: TaskQueues;
  status: TaskStatusReader;
  eventsMaxLen: number;
  resultsMaxLen: number;
}

/**
 * BullMQ's removeJob, then, when it removed the job, the task's cancelled outcome.
 * KEYS[1] job key, KEYS[2] the queue's repeat key (BullMQ's), KEYS[3..6] the outcome's keys;
 * ARGV[1] job id, ARGV[2] remove children "0", ARGV[3] the queue's key prefix (BullMQ's), ARGV[4..]
 * the outcome's arguments (src/feeds/outcome-writes.ts). Returns 1 when removed, 0 when locked
 * (the task started: its pool aborts it), negative for BullMQ's errors.
 */
const REMOVE_CANCELLED = `
${bullmqFunction('bullRemoveJob', 'removeJob', 2)}
local r = bullRemoveJob({KEYS[1], KEYS[2]}, {ARGV[1], ARGV[2], ARGV[3]})
if r == 1 then
${outcomeWritesLua(3, 4)}
end
return r
`;

type RemoveCancelled = (...args: (string | number | Buffer)[]) => Promise<number>;

export class TaskCanceller {
  private readonly removeCancelled: RemoveCancelled;

  constructor(private readonly opts: TaskCancellerOptions) {
    this.removeCancelled = luaCommand<RemoveCancelled>(opts.redis, REMOVE_CANCELLED, 6);
  }

  /** Returns the state right after the request (see CancelTaskResponse). */
  async cancel(taskId: string, reason: string): Promise<TaskState> {
    const { redis, keys, queues } = this.opts;
    const { taskClass } = await this.opts.status.classOf(taskId);
    const queue = queues.get(taskClass);
    const job = (await Job.fromId(queue, taskId)) as Job<TaskJobData> | undefined;
    if (!job) return (await this.opts.status.get(taskId)).state;
    const before = await job.getState();
    if (before === 'completed' || before === 'failed') return mapState(before, false);

    const why = reason || 'requested';
    await redis.multi().hset(keys.cancel, taskId, why).publish(keys.cancelChannel, `${taskId}\t${why}`).exec();
    if (before !== 'active') {
      const now = Date.now();
      const base = {
        taskId,
        taskClass,
        attempt: attemptsBefore(job.data) + job.attemptsMade,
        workflowId: job.data.workflowId,
        scheduleId: job.data.scheduleId,
      };
      const outcome = outcomeArgv(
        { ...base, type: 'cancelled', atMs: now, detail: `cancelled: ${why}` },
        { ...base, state: 'cancelled', atMs: now, error: `cancelled: ${why}`, errorCode: 'cancelled', durationMs: 0 },
        this.opts.eventsMaxLen,
        this.opts.resultsMaxLen,
      );
      const removed = await this.removeCancelled(queue.toKey(taskId), queue.keys.repeat!, ...outcomeKeys(keys), taskId, '0', queue.keys['']!, ...outcome);
      if (removed === 1) return 'cancelled';
      // 0: it started (locked) between our look and the removal: its pool aborts it.
    }
    const after = await job.getState();
    if (after === 'completed') {
      await redis.hdel(keys.cancel, taskId);
      return 'succeeded';
    }
    return mapState(after, true);
  }
}
