import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import type { CancelQueuedCode } from '../codes.js';
import { outcomeArgv, outcomeKeys } from '../outcome-writes.js';
import type { TaskEventRecord, TaskResultRecord } from '../codecs/feed-format.js';
import { storeScript } from '../store-script.js';

export interface CancelQueuedJob {
  taskId: string;
  /** The job's hash (`queue.toKey(taskId)`). */
  jobKey: string;
  /** BullMQ's keys of its queue (`queue.keys`). */
  queueKeys: Readonly<Record<string, string>>;
}

/** The script's KEYS for `job` of `taskClass` (its header's order). */
export function cancelQueuedKeys(keys: Keys, job: CancelQueuedJob, taskClass: string): string[] {
  return [job.jobKey, job.queueKeys.repeat!, ...outcomeKeys(keys, taskClass, keys.partitionOf(taskClass, job.taskId)), job.queueKeys.failed!];
}

type Command = (...args: (string | number | Buffer)[]) => Promise<number>;

/**
 * lua/tasks/cancel-queued.lua: removes a queued task's job, keeps it as failed at `atMs` with
 * `reason`, and writes its cancelled outcome (`event`, `result`). A negative answer is BullMQ's
 * removeJob error.
 */
export function cancelQueued(
  redis: RedisClient,
  keys: Keys,
  maxLen: { events: number; results: number },
): (job: CancelQueuedJob, atMs: number, reason: string, event: TaskEventRecord, result: TaskResultRecord) => Promise<CancelQueuedCode | number> {
  const run = storeScript<Command>(redis, 'tasks/cancel-queued', { numberOfKeys: 7 });
  return (job, atMs, reason, event, result) =>
    run(
      ...cancelQueuedKeys(keys, job, result.taskClass),
      job.taskId,
      '0',
      job.queueKeys['']!,
      atMs,
      reason,
      ...outcomeArgv(event, result, maxLen.events, maxLen.results),
    );
}
