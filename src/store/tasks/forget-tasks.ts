import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { storeScript } from '../store-script.js';
import { hashTag } from '../../redis/hash-tag.js';
import { bucketKeys } from './index-slots.js';
import { groupBy } from '../group-by.js';

/** Keys and ARGV go as arrays (src/store/lua-command.ts): a batch is one key and one value per task. */
type Command = (numKeys: number, keys: string[], taskIds: readonly string[]) => Promise<number>;

/**
 * Removes the index entries, task-list entries and cancel marks of `taskIds` (at least one) of
 * class `taskClass`; returns how many index entries went. `listEntries`: list entry ids of these
 * tasks the caller read from the task list itself, removed too (on a Redis Cluster a value may
 * lack its entry: src/store/codecs/task-index.ts).
 *
 * On a single Redis one script, lua/tasks/forget-tasks.lua. On a Redis Cluster the index is apart
 * from the class's keys: its entries go first (lua/tasks/forget-task-ids.lua, per index slot),
 * then the class's list entries and cancel marks (one MULTI on the class's slot). A failure in
 * between leaves list entries of tasks no longer indexed, whose jobs are gone: the retention's
 * orphan sweep, walking the task list, forgets them again with their entries.
 *
 * A partitioned class (keys.ts partitions) has a task list and a cancel hash per partition: the
 * tasks are forgotten per partition, and `listEntries` (entry ids, which only mean something in
 * one list) must all be of the partition of `taskIds[0]`, where they are removed.
 */
export function forgetTasks(
  redis: RedisClient,
  keys: Keys,
): (taskClass: string, taskIds: readonly string[], listEntries?: readonly string[]) => Promise<number> {
  if (keys.cluster) {
    const forgetIds = storeScript<(numKeys: number, keys: string[], argv: string[]) => Promise<(number | string)[]>>(redis, 'tasks/forget-task-ids');
    const forgetPart = async (taskClass: string, part: number, taskIds: readonly string[], listEntries: readonly string[]) => {
      const replies = await Promise.all(
        [...groupBy(taskIds, (id) => hashTag(keys.taskIndex(id)))].map(([, ids]) => {
          const { keyList, indexOf } = bucketKeys(keys, ids);
          return forgetIds(
            keyList.length,
            keyList,
            ids.flatMap((id, k) => [id, String(indexOf[k])]),
          );
        }),
      );
      const entries = new Set(listEntries);
      let removed = 0;
      for (const [n, ...named] of replies) {
        removed += Number(n);
        for (const e of named) entries.add(String(e));
      }
      const [cancel, list] = forgetClassKeys(keys, taskClass, part);
      const tx = redis.multi().hdel(cancel, ...taskIds);
      if (entries.size > 0) tx.xdel(list, ...entries);
      await tx.exec();
      return removed;
    };
    return async (taskClass, taskIds, listEntries = []) => {
      if (taskIds.length === 0) return 0;
      const first = keys.partitionOf(taskClass, taskIds[0]!);
      const byPart = groupBy(taskIds, (id) => String(keys.partitionOf(taskClass, id)));
      const counts = await Promise.all([...byPart].map(([p, ids]) => forgetPart(taskClass, Number(p), ids, Number(p) === first ? listEntries : [])));
      return counts.reduce((a, b) => a + b, 0);
    };
  }
  const run = storeScript<Command>(redis, 'tasks/forget-tasks');
  return async (taskClass, taskIds, listEntries = []) => {
    const keyList = forgetTasksKeys(keys, taskClass, taskIds);
    const removed = await run(keyList.length, keyList, taskIds);
    if (listEntries.length > 0) await redis.xdel(keys.taskList(taskClass), ...listEntries);
    return removed;
  };
}

/** The class part's keys on a cluster: the class's (partition `part`'s) cancel hash and task list (one MULTI). */
export function forgetClassKeys(keys: Keys, taskClass: string, part = 0): [cancel: string, list: string] {
  return [keys.cancelOf(taskClass, part), keys.taskList(taskClass, part)];
}

/** The single-Redis script's KEYS: the class's task list and cancel hash, then each task's index bucket. */
export function forgetTasksKeys(keys: Keys, taskClass: string, taskIds: readonly string[], part = 0): string[] {
  return [keys.taskList(taskClass, part), keys.cancelOf(taskClass, part), ...taskIds.map((id) => keys.taskIndex(id))];
}
