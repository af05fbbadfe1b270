import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import type { RequeueFailedCode } from '../codes.js';
import { eventFields, type TaskEventRecord } from '../codecs/feed-format.js';
import { storeScript } from '../store-script.js';

export interface RequeueFailedJob {
  taskId: string;
  /** Its class: the requeued event goes to the class's events stream. */
  taskClass: string;
  /** The job's hash (`queue.toKey(taskId)`). */
  jobKey: string;
  /** BullMQ's keys of its queue (`queue.keys`). */
  queueKeys: Readonly<Record<string, string>>;
  /** BullMQ's lifo option of the job. */
  lifo: boolean;
}

/** The script's KEYS for `job` (its header's order). */
export function requeueFailedKeys(keys: Keys, job: RequeueFailedJob): string[] {
  const k = job.queueKeys;
  return [
    job.jobKey,
    k.events!,
    k.failed!,
    k.wait!,
    k.meta!,
    k.active!,
    k.marker!,
    k.prioritized!,
    k.pc!,
    keys.eventsOf(job.taskClass, keys.partitionOf(job.taskClass, job.taskId)),
  ];
}

type Command = (...args: (string | number)[]) => Promise<number>;

/**
 * lua/tasks/requeue-failed.lua: puts a failed job back in its queue with `dataJson` as its data
 * and `optsJson` as its options ("" keeps them), and writes `event` ("requeued"). A negative
 * answer is reprocessJob's refusal (-1 no such job, -3 not failed).
 */
export function requeueFailed(
  redis: RedisClient,
  keys: Keys,
  eventsMaxLen: number,
): (job: RequeueFailedJob, dataJson: string, optsJson: string, event: TaskEventRecord) => Promise<RequeueFailedCode | number> {
  const run = storeScript<Command>(redis, 'tasks/requeue-failed', { numberOfKeys: 10 });
  return (job, dataJson, optsJson, event) => {
    return run(
      ...requeueFailedKeys(keys, job),
      ...[job.taskId, `${job.lifo ? 'R' : 'L'}PUSH`, 'failedReason', 'failed', '1', '1'],
      dataJson,
      eventsMaxLen,
      optsJson,
      ...eventFields(event),
    );
  };
}
