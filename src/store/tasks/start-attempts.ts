import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { eventFields, type TaskEventRecord } from '../codecs/feed-format.js';
import { storeScript } from '../store-script.js';

type Command = (argv: (string | number)[]) => Promise<(string | null)[]>;

/**
 * lua/tasks/start-attempts.lua: writes each "started" event of `starts` and answers, for each,
 * the reason of a cancel requested for its task, or null.
 */
export function startAttempts(redis: RedisClient, keys: Keys, eventsMaxLen: number): (starts: readonly TaskEventRecord[]) => Promise<(string | null)[]> {
  const run = storeScript<Command>(redis, 'tasks/start-attempts', 2);
  return async (starts) => {
    const argv: (string | number)[] = [keys.events, keys.cancel, eventsMaxLen];
    for (const s of starts) {
      const ev = eventFields(s);
      argv.push(s.taskId, ev.length);
      for (const f of ev) argv.push(f);
    }
    const replies = await run(argv);
    return starts.map((_, i) => replies[i] ?? null);
  };
}
