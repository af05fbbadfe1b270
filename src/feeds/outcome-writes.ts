/**
 * A task's final outcome on the feeds, as a piece of a Lua script: its final event, its result
 * (also on the workflow inbox for a workflow's task) and the finished count. The scripts that end
 * a task run it together with the change that ends it, so the feeds and BullMQ's state never
 * disagree: a pool's finish (workers/task-backend.ts) and the removal of a task cancelled while
 * queued (src/tasks/task-canceller.ts).
 */
import type { Keys } from '../redis/keys.js';
import { eventFields, resultFields, type TaskEventRecord, type TaskResultRecord } from './feed-format.js';

/** The four keys the writes use, in the order outcomeWritesLua expects them. */
export function outcomeKeys(keys: Keys): string[] {
  return [keys.events, keys.results, keys.counters, keys.workflowInbox];
}

/**
 * The arguments of the writes: events MAXLEN, results MAXLEN, counter field, N, N event fields,
 * M, M result fields, then "1" when the result also goes to the workflow inbox.
 */
export function outcomeArgv(event: TaskEventRecord, result: TaskResultRecord, eventsMaxLen: number, resultsMaxLen: number): (string | number)[] {
  const ev = eventFields(event);
  const res = resultFields(result);
  return [eventsMaxLen, resultsMaxLen, `${result.state}:${result.taskClass}`, ev.length, ...ev, res.length, ...res, result.workflowId ? '1' : '0'];
}

/** Lua doing the writes, with outcomeKeys at KEYS[k..k+3] and outcomeArgv from ARGV[a]. */
export function outcomeWritesLua(k: number, a: number): string {
  return `
do
  local n = tonumber(ARGV[${a + 3}])
  redis.call('XADD', KEYS[${k}], 'MAXLEN', '~', ARGV[${a}], '*', unpack(ARGV, ${a + 4}, ${a + 3} + n))
  local j = ${a + 4} + n
  local m = tonumber(ARGV[j])
  redis.call('XADD', KEYS[${k + 1}], 'MAXLEN', '~', ARGV[${a + 1}], '*', unpack(ARGV, j + 1, j + m))
  if ARGV[j + m + 1] == '1' then redis.call('XADD', KEYS[${k + 3}], '*', unpack(ARGV, j + 1, j + m)) end
  redis.call('HINCRBY', KEYS[${k + 2}], ARGV[${a + 2}], 1)
end
`;
}
