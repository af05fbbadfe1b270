import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { storeScript } from '../store-script.js';

type Command = (numKeys: number, keys: string[], taskIds: readonly string[]) => Promise<number>;

/**
 * lua/tasks/migrate-task-index.lua: moves the entries of `taskIds` (at least one) from the
 * previous one-hash index into their buckets; returns how many it moved.
 */
export function migrateTaskIndex(redis: RedisClient, keys: Keys): (taskIds: readonly string[]) => Promise<number> {
  const run = storeScript<Command>(redis, 'tasks/migrate-task-index');
  return (taskIds) => {
    const keyList = [keys.legacyTaskIndex];
    for (const id of taskIds) keyList.push(keys.taskIndex(id));
    return run(keyList.length, keyList, taskIds);
  };
}
