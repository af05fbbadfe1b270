import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { storeScript } from '../store-script.js';

/** Keys and ARGV go as arrays (src/store/lua-command.ts): a batch is one key and one value per task. */
type Command = (numKeys: number, keys: string[], taskIds: readonly string[]) => Promise<number>;

/**
 * lua/tasks/forget-tasks.lua: removes the index entries, task-list entries and cancel marks of
 * `taskIds` (at least one) of class `taskClass`; returns how many index entries went.
 */
export function forgetTasks(redis: RedisClient, keys: Keys): (taskClass: string, taskIds: readonly string[]) => Promise<number> {
  const run = storeScript<Command>(redis, 'tasks/forget-tasks');
  return (taskClass, taskIds) => {
    const keyList = forgetTasksKeys(keys, taskClass, taskIds);
    return run(keyList.length, keyList, taskIds);
  };
}

/** The script's KEYS: the class's task list and cancel hash, then each task's index bucket. */
export function forgetTasksKeys(keys: Keys, taskClass: string, taskIds: readonly string[]): string[] {
  return [keys.taskList(taskClass), keys.cancelOf(taskClass), ...taskIds.map((id) => keys.taskIndex(id))];
}
