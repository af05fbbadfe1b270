/**
 * Reads of the task index as a whole (its buckets, keys.ts taskIndex), for the migration's check,
 * tests and the bench. A single task's entry is one HGET of its bucket (task-status.ts classOf).
 */
import type { RedisClient } from '../../redis/redis-client.js';
import { TASK_INDEX_BUCKETS, type Keys } from '../keys.js';
import { hashTag } from '../../redis/hash-tag.js';
import { groupBy } from '../group-by.js';

/** Every bucket's key, in bucket order. */
export function taskIndexBuckets(keys: Keys): string[] {
  return Array.from({ length: TASK_INDEX_BUCKETS }, (_, n) => keys.taskIndexBucket(n));
}

/** How many tasks the index holds (HLEN of every bucket, in one pipeline per slot: one on a single Redis). */
export async function countIndexedTasks(redis: RedisClient, keys: Keys): Promise<number> {
  const counts = await Promise.all(
    [...groupBy(taskIndexBuckets(keys), hashTag)].map(async ([, buckets]) => {
      const pipe = redis.pipeline();
      for (const bucket of buckets) pipe.hlen(bucket);
      let n = 0;
      for (const [err, len] of (await pipe.exec()) ?? []) {
        if (err) throw err;
        n += Number(len);
      }
      return n;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/** Task `taskId`'s index value, or null when it is not indexed. */
export async function readTaskIndex(redis: RedisClient, keys: Keys, taskId: string): Promise<string | null> {
  return redis.hget(keys.taskIndex(taskId), taskId);
}

/** Every entry of index bucket `n` (keys.ts taskIndexBucket): task_id -> value. */
export async function readIndexBucket(redis: RedisClient, keys: Keys, n: number): Promise<Record<string, string>> {
  return redis.hgetall(keys.taskIndexBucket(n));
}
