import { isCluster, type RedisClient } from '../../redis/redis-client.js';
import { keyedCommand } from '../../redis/keyed-command.js';
import { pipelineBySlot } from '../../redis/slot-pipelines.js';
import type { Keys } from '../keys.js';

/** One finished set (a class queue's completed or failed zset) to sample. */
export interface FinishedSetRef {
  taskClass: string;
  /** The zset's key. */
  set: string;
}

export interface FinishedSetSample {
  /** Jobs in the set. */
  count: number;
  /**
   * MEMORY USAGE of each sampled job plus its log list (BullMQ's `<job>:logs`, where task logs
   * live: a chatty task's log can outweigh its job); 0 for a job removed between the two reads.
   */
  jobBytes: number[];
}

/**
 * The size of each finished set and the bytes of up to `samples` random jobs of it: two pipelined
 * round trips (ZCARD and ZRANDMEMBER of every set, then MEMORY USAGE of the sampled jobs and
 * their log lists, skipped when nothing was sampled), whatever the number of tasks; on a Redis
 * Cluster, where classes live on different shards, one pipeline per set and one MEMORY USAGE per
 * key, sent together.
 */
export function sampleFinishedJobs(redis: RedisClient, keys: Keys): (sets: readonly FinishedSetRef[], samples: number) => Promise<FinishedSetSample[]> {
  return async (sets, samples) => {
    const counted = await countAndSample(redis, sets, samples);
    const measured: string[] = [];
    const sampled: number[] = [];
    sets.forEach(({ taskClass }, i) => {
      const ids = (counted[i * 2 + 1]?.[1] as string[] | null) ?? [];
      sampled.push(ids.length);
      for (const id of ids) measured.push(keys.job(taskClass, id), `${keys.job(taskClass, id)}:logs`);
    });
    const usages = await memoryUsages(redis, measured);
    let at = 0;
    return sets.map((_, i) => {
      const jobBytes: number[] = [];
      for (let j = 0; j < sampled[i]!; j++) {
        const job = Number(usages[at + 2 * j]?.[1] ?? 0);
        // A job without logs answers nil for its list: it counts the job alone.
        jobBytes.push(job > 0 ? job + Number(usages[at + 2 * j + 1]?.[1] ?? 0) : 0);
      }
      at += 2 * sampled[i]!;
      return { count: Number(counted[i * 2]?.[1] ?? 0), jobBytes };
    });
  };
}

/**
 * MEMORY USAGE of each key, as [error, bytes] pairs in order: one pipeline on a single Redis; on a
 * cluster one command each, routed by its key (ioredis finds no key in MEMORY USAGE:
 * src/redis/keyed-command.ts).
 */
async function memoryUsages(redis: RedisClient, keys: readonly string[]): Promise<[Error | null, unknown][]> {
  if (keys.length === 0) return [];
  if (isCluster(redis)) {
    return Promise.all(
      keys.map((key) =>
        keyedCommand(redis, key, 'memory', ['USAGE', key, 'SAMPLES', 0]).then(
          (v): [Error | null, unknown] => [null, v],
          (err: Error): [Error | null, unknown] => [err, null],
        ),
      ),
    );
  }
  const pipe = redis.pipeline();
  for (const key of keys) pipe.memory('USAGE', key, 'SAMPLES', 0);
  return (await pipe.exec()) ?? [];
}

/** ZCARD and ZRANDMEMBER of each set, as [error, reply] pairs in that order (one pipeline per class's slot: src/redis/slot-pipelines.ts). */
async function countAndSample(redis: RedisClient, sets: readonly FinishedSetRef[], samples: number): Promise<[Error | null, unknown][]> {
  const replies = await pipelineBySlot(
    redis,
    sets,
    (s) => s.set,
    (pipe, s) => pipe.zcard(s.set).zrandmember(s.set, samples),
  );
  return replies.flat();
}
