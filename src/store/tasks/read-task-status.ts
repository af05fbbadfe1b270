/**
 * lua/tasks/read-task-status.lua: a task's index value, cancel mark, job hash and job state in
 * one call, for GetTaskStatus on a single Redis (src/tasks/task-status.ts). Redis contents are
 * not trusted: the caller validates the class the index names before using any of it.
 */
import type { JobState } from 'bullmq';
import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { storeScript } from '../store-script.js';

export interface TaskStatusRead {
  /** The task index's value, or null when the task is unknown. */
  indexValue: string | null;
  cancelReason: string | null;
  /** The job's hash and its place in the queue, when its job exists. */
  job?: { fields: Record<string, string>; state: JobState | 'unknown' };
}

type Command = (index: string, cancel: string, taskId: string, queuePrefix: string) => Promise<(string | null)[]>;

const STATES: ReadonlySet<string> = new Set(['completed', 'failed', 'delayed', 'prioritized', 'active', 'waiting', 'waiting-children', 'unknown']);

/** Only for a single Redis (keys.feedsPerClass false): there every key shares the system's hash tag. */
export function readTaskStatus(redis: RedisClient, keys: Keys): (taskId: string) => Promise<TaskStatusRead> {
  if (keys.feedsPerClass) throw new Error('readTaskStatus reads across classes in one script: a single Redis only');
  const run = storeScript<Command>(redis, 'tasks/read-task-status', { numberOfKeys: 2 });
  return async (taskId) => {
    const [indexValue = null, cancelReason = null, state = null, ...flat] = await run(keys.taskIndex(taskId), keys.cancel, taskId, keys.queuePrefix);
    if (state === null || !STATES.has(state)) return { indexValue, cancelReason };
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
    return { indexValue, cancelReason, job: { fields, state: state as JobState | 'unknown' } };
  };
}
