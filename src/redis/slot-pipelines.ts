/**
 * A pipeline of reads whose keys may live in several hash slots. ioredis's Cluster sends a
 * pipeline to one node and refuses one whose keys are on several ("All keys in the pipeline should
 * belong to the same slots allocation group"); on a Redis Cluster each class's keys have a slot of
 * their own (src/store/keys.ts), so a read across classes (the jobs of a run's steps, the finished
 * sets of every class) is one pipeline per hash tag there, sent together. On a single Redis it is
 * one pipeline, as before.
 */
import type { ChainableCommander } from 'ioredis';
import { hashTag } from './hash-tag.js';
import { isCluster, type RedisClient } from './redis-client.js';

/**
 * Pipelines `add(pipe, item)` for each of `items`, every command it adds taking keys of
 * `keyOf(item)`'s hash tag; returns each item's replies ([error, reply] pairs, in the order it
 * added them), in item order.
 */
export async function pipelineBySlot<T>(
  redis: RedisClient,
  items: readonly T[],
  keyOf: (item: T) => string,
  add: (pipe: ChainableCommander, item: T) => void,
): Promise<[Error | null, unknown][][]> {
  const groups = new Map<string, number[]>();
  items.forEach((item, i) => {
    const tag = isCluster(redis) ? hashTag(keyOf(item)) : '';
    const g = groups.get(tag);
    if (g) g.push(i);
    else groups.set(tag, [i]);
  });
  const out: [Error | null, unknown][][] = new Array(items.length);
  await Promise.all(
    [...groups.values()].map(async (indexes) => {
      const pipe = redis.pipeline();
      const counts = indexes.map((i) => {
        const before = pipe.length;
        add(pipe, items[i]!);
        return pipe.length - before;
      });
      const replies = ((await pipe.exec()) ?? []) as [Error | null, unknown][];
      let at = 0;
      indexes.forEach((i, k) => {
        out[i] = replies.slice(at, at + counts[k]!);
        at += counts[k]!;
      });
    }),
  );
  return out;
}
