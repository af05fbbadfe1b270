/**
 * Reads of the task index as a whole (its buckets, keys.ts taskIndex), for the migration's check,
 * tests and the bench. A single task's entry is one HGET of its bucket (task-status.ts classOf).
 */
import type { RedisClient } from '../../redis/redis-client.js';
import { TASK_INDEX_BUCKETS, type Keys } from '../keys.js';

/** Every bucket's key, in bucket order. */
export function taskIndexBuckets(keys: Keys): string[] {
  return Array.from({ length: TASK_INDEX_BUCKETS }, (_, n) => keys.taskIndexBucket(n));
}

/** How many tasks the index holds (HLEN of every bucket, in one pipeline). */
export async function countIndexedTasks(redis: RedisClient, keys: Keys): Promise<number> {
  const pipe = redis.pipeline();
  for (const bucket of taskIndexBuckets(keys)) pipe.hlen(bucket);
  const res = (await pipe.exec()) ?? [];
  let n = 0;
  for (const [err, len] of res) {
    if (err) throw err;
    n += Number(len);
  }
  return n;
}

/** Task `taskId`'s index value, or null when it is not indexed. */
export async function readTaskIndex(redis: RedisClient, keys: Keys, taskId: string): Promise<string | null> {
  return redis.hget(keys.taskIndex(taskId), taskId);
}
