import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { storeScript } from '../store-script.js';

type Command = (tasks: string, taskList: string, cancel: string, taskIds: readonly string[]) => Promise<number>;

/**
 * lua/tasks/forget-tasks.lua: removes the index entries, task-list entries and cancel marks of
 * `taskIds` (at least one) of class `taskClass`; returns how many index entries went.
 */
export function forgetTasks(redis: RedisClient, keys: Keys): (taskClass: string, taskIds: readonly string[]) => Promise<number> {
  const run = storeScript<Command>(redis, 'tasks/forget-tasks', 3);
  return (taskClass, taskIds) => run(keys.tasks, keys.taskList(taskClass), keys.cancel, taskIds);
}
