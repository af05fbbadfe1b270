/**
 * The task index by slot, for the scripts of a Redis Cluster that take its buckets: one call per
 * slot (keys.ts TASK_INDEX_SLOTS), each given its buckets once and each id's bucket by KEYS index.
 */
import type { Keys } from '../keys.js';

/** Each of `taskIds`' bucket once, and the KEYS index (1-based) of each id's. */
export function bucketKeys(keys: Keys, taskIds: readonly string[]): { keyList: string[]; indexOf: number[] } {
  const at = new Map<string, number>();
  const keyList: string[] = [];
  const indexOf = taskIds.map((id) => {
    const bucket = keys.taskIndex(id);
    let i = at.get(bucket);
    if (i === undefined) at.set(bucket, (i = keyList.push(bucket)));
    return i;
  });
  return { keyList, indexOf };
}
