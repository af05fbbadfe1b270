import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { storeScript } from '../store-script.js';
import { hashTag } from '../../redis/hash-tag.js';
import { groupBy } from '../group-by.js';
import { bucketKeys } from './index-slots.js';

/** A claim to settle: its task's list entry, or "" to release it. */
export interface Settlement {
  taskId: string;
  /** "<class>\t<digest>", as claimed. */
  indexValue: string;
  entry: string;
}

/**
 * lua/tasks/settle-task-ids.lua, on a Redis Cluster: completes claims with their tasks' list
 * entries or releases them, only where a value is still claimed with the same content; one call
 * per index slot. Returns how many were settled.
 */
export function settleTaskIds(redis: RedisClient, keys: Keys): (settlements: readonly Settlement[]) => Promise<number> {
  const run = storeScript<(numKeys: number, keys: string[], argv: string[]) => Promise<number>>(redis, 'tasks/settle-task-ids');
  return async (settlements) => {
    const done = await Promise.all(
      [...groupBy(settlements, (s) => hashTag(keys.taskIndex(s.taskId)))].map(([, group]) => {
        const { keyList, indexOf } = bucketKeys(
          keys,
          group.map((s) => s.taskId),
        );
        return run(
          keyList.length,
          keyList,
          group.flatMap((s, k) => [s.taskId, s.indexValue, s.entry, String(indexOf[k])]),
        );
      }),
    );
    return done.reduce((a, b) => a + Number(b), 0);
  };
}
