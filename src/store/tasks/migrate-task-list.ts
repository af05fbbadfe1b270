import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { storeScript } from '../store-script.js';

type Command = (numKeys: number, keys: string[], taskIds: readonly string[]) => Promise<number>;

/**
 * lua/tasks/migrate-task-list.lua: moves the entries of `taskIds` (at least one, lowest score
 * first) from class `taskClass`'s previous task list zset into its stream, appending each one's
 * entry id to its index value; returns how many left the zset.
 */
export function migrateTaskList(redis: RedisClient, keys: Keys): (taskClass: string, taskIds: readonly string[]) => Promise<number> {
  const run = storeScript<Command>(redis, 'tasks/migrate-task-list');
  return (taskClass, taskIds) => {
    const keyList = [keys.legacyTaskList(taskClass), keys.taskList(taskClass), keys.legacyTaskIndex];
    for (const id of taskIds) keyList.push(keys.taskIndex(id));
    return run(keyList.length, keyList, taskIds);
  };
}
