import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { eventFields, type TaskEventRecord } from '../codecs/feed-format.js';
import { storeScript } from '../store-script.js';

/**
 * The events stream and cancel hash a start of a task of `taskClass` is given (one of each for
 * every class on a single Redis, the class's own on a cluster).
 */
export function startAttemptKeys(keys: Keys, taskClass: string, part = 0): [events: string, cancel: string] {
  return [keys.eventsOf(taskClass, part), keys.cancelOf(taskClass, part)];
}

type Command = (argv: (string | number)[]) => Promise<(string | null)[]>;

/**
 * lua/tasks/start-attempts.lua: writes each "started" event of `starts` and answers, for each,
 * the reason of a cancel requested for its task, or null. One script call per events stream and
 * cancel hash: one on a single Redis, one per class of the batch on a cluster (each class's stream
 * and cancel hash are in its class's slot).
 */
export function startAttempts(redis: RedisClient, keys: Keys, eventsMaxLen: number): (starts: readonly TaskEventRecord[]) => Promise<(string | null)[]> {
  const run = storeScript<Command>(redis, 'tasks/start-attempts', { numberOfKeys: 2 });
  const call = async (stream: string, cancel: string, starts: readonly TaskEventRecord[]) => {
    const argv: (string | number)[] = [stream, cancel, eventsMaxLen];
    for (const s of starts) {
      const ev = eventFields(s);
      argv.push(s.taskId, ev.length);
      for (const f of ev) argv.push(f);
    }
    const replies = await run(argv);
    return starts.map((_, i) => replies[i] ?? null);
  };
  return async (starts) => {
    if (!keys.feedsPerClass) return call(...startAttemptKeys(keys, starts[0]?.taskClass ?? '', 0), starts);
    // One call per (class, partition): each one's keys share its slot.
    const byClass = new Map<string, number[]>();
    starts.forEach((s, i) => {
      const queue = `${s.taskClass}\t${keys.partitionOf(s.taskClass, s.taskId)}`;
      const at = byClass.get(queue);
      if (at) at.push(i);
      else byClass.set(queue, [i]);
    });
    const out: (string | null)[] = new Array<string | null>(starts.length).fill(null);
    await Promise.all(
      [...byClass].map(async ([queue, at]) => {
        const [taskClass, part] = queue.split('\t') as [string, string];
        const replies = await call(
          ...startAttemptKeys(keys, taskClass, Number(part)),
          at.map((i) => starts[i]!),
        );
        at.forEach((i, j) => (out[i] = replies[j] ?? null));
      }),
    );
    return out;
  };
}
