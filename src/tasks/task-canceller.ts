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
import type { Redis } from 'ioredis';
import { outcomeArgv, outcomeKeys, outcomeWritesLua } from '../store/outcome-writes.js';
import { removeJobLua } from '../store/bullmq/installed-scripts.js';
import type { Keys } from '../store/keys.js';
import { attemptsBefore, type TaskJobData } from './task-spec.js';
import type { TaskQueues } from './task-queues.js';
import type { TaskState, TaskStatusReader } from './task-status.js';
import { mapState } from './task-status.js';
import { luaCommand } from '../store/lua-command.js';

export interface TaskCancellerOptions {
  redis: Redis;
  keys: Keys;
  queues: TaskQueues;
  status: TaskStatusReader;
  eventsMaxLen: number;
  resultsMaxLen: number;
}

/**
 * BullMQ's removeJob, which takes the job out of whichever list holds it (waiting, prioritized,
 * delayed) and deletes it; then, when it removed the job, the job's fields again as a failed
 * job (BullMQ's failed zset, scored by its finish time, as moveToFinished scores it) and the
 * task's cancelled outcome.
 * KEYS[1] job key, KEYS[2] the queue's repeat key (BullMQ's), KEYS[3..6] the outcome's keys,
 * KEYS[7] the queue's failed zset;
 * ARGV[1] job id, ARGV[2] remove children "0", ARGV[3] the queue's key prefix (BullMQ's),
 * ARGV[4] finish time (ms), ARGV[5] failedReason, ARGV[6..] the outcome's arguments
 * (src/store/outcome-writes.ts). Returns 1 when cancelled, 0 when locked (the task started: its
 * pool aborts it), negative for BullMQ's errors.
 */
const removeCancelledScript = (): string => `
${removeJobLua('bullRemoveJob')}
local fields = redis.call('HGETALL', KEYS[1])
local r = bullRemoveJob({KEYS[1], KEYS[2]}, {ARGV[1], ARGV[2], ARGV[3]})
if r == 1 then
  if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
  redis.call('HSET', KEYS[1], 'finishedOn', ARGV[4], 'failedReason', ARGV[5])
  redis.call('ZADD', KEYS[7], ARGV[4], ARGV[1])
${outcomeWritesLua(3, 6)}
end
return r
`;

type RemoveCancelled = (...args: (string | number | Buffer)[]) => Promise<number>;

export class TaskCanceller {
  private readonly removeCancelled: RemoveCancelled;

  constructor(private readonly opts: TaskCancellerOptions) {
    this.removeCancelled = luaCommand<RemoveCancelled>(opts.redis, removeCancelledScript(), 7);
  }

  /** Returns the state right after the request (see CancelTaskResponse). */
  async cancel(taskId: string, reason: string): Promise<TaskState> {
    const { redis, keys, queues } = this.opts;
    const { taskClass, cancelReason } = await this.opts.status.classOf(taskId);
    const queue = queues.get(taskClass);
    const job = (await Job.fromId(queue, taskId)) as Job<TaskJobData> | undefined;
    if (!job) return (await this.opts.status.get(taskId)).state;
    const before = await job.getState();
    // Finished: a cancel changes nothing, and one that ended it earlier still reads cancelled.
    if (before === 'completed' || before === 'failed') return mapState(before, cancelReason !== null);

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
      const removed = await this.removeCancelled(
        queue.toKey(taskId),
        queue.keys.repeat!,
        ...outcomeKeys(keys),
        queue.keys.failed!,
        taskId,
        '0',
        queue.keys['']!,
        now,
        `cancelled: ${why}`,
        ...outcome,
      );
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
