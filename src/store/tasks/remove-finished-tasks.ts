import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { storeScript } from '../store-script.js';

type Command = (finished: string, jobPrefix: string, taskIds: readonly string[]) => Promise<string[]>;

/**
 * lua/tasks/remove-finished-tasks.lua: deletes the jobs of `taskIds` of class `taskClass` that
 * are still in `finishedSet` (the queue's completed or failed zset) with their keys; returns the
 * ids removed. The tasks' own entries stay (forget-tasks.ts).
 */
export function removeFinishedTasks(
  redis: RedisClient,
  keys: Keys,
): (taskClass: string, part: number, finishedSet: string, taskIds: readonly string[]) => Promise<string[]> {
  const run = storeScript<Command>(redis, 'tasks/remove-finished-tasks', { numberOfKeys: 1 });
  return (taskClass, part, finishedSet, taskIds) => run(finishedSet, keys.jobPrefix(taskClass, part), taskIds);
}
