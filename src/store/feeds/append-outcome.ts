import type { RedisClient } from '../../redis/redis-client.js';
import { retryWhileSlotMoves } from '../../redis/slot-moving.js';
import type { Keys } from '../keys.js';
import { eventFields, resultFields, type TaskEventRecord, type TaskResultRecord } from '../codecs/feed-format.js';

/**
 * Writes a final outcome outside a script: its event, its result (to its class's streams) and the finished count
 * (`<state>:<class>` in the counters hash). No MULTI for a plain task: the three go out in order
 * on one auto-pipelined connection (one round trip), and a reader that sees the result entry
 * without the event (a dropped connection between them) loses nothing it needs. A workflow's
 * task also puts the result on the workflow inbox, in a MULTI with the rest: a result the engine
 * never hears of would leave its run waiting. The first failed command's error is thrown.
 *
 * On a Redis Cluster whose slot is being moved, each command (or the MULTI, which Redis then
 * aborts whole) that met the move is sent again on its own (src/redis/slot-moving.ts): resending
 * all three would write the ones that went through twice.
 */
export function appendOutcome(
  redis: RedisClient,
  keys: Keys,
  maxLen: { events: number; results: number },
): (event: TaskEventRecord, result: TaskResultRecord) => Promise<void> {
  return async (event, result) => {
    const ev = eventFields(event);
    const res = resultFields(result);
    const counter = `${result.state}:${result.taskClass}`;
    const part = keys.partitionOf(result.taskClass, result.taskId);
    const [events, results, counters] = [
      keys.eventsOf(result.taskClass, part),
      keys.resultsOf(result.taskClass, part),
      keys.countersOf(result.taskClass, part),
    ];
    if (!result.workflowId) {
      await Promise.all([
        retryWhileSlotMoves(redis, () => redis.xadd(events, 'MAXLEN', '~', maxLen.events, '*', ...ev)),
        retryWhileSlotMoves(redis, () => redis.xadd(results, 'MAXLEN', '~', maxLen.results, '*', ...res)),
        retryWhileSlotMoves(redis, () => redis.hincrby(counters, counter, 1)),
      ]);
      return;
    }
    await retryWhileSlotMoves(redis, async () => {
      const replies = await redis
        .multi()
        .xadd(events, 'MAXLEN', '~', maxLen.events, '*', ...ev)
        .xadd(results, 'MAXLEN', '~', maxLen.results, '*', ...res)
        .hincrby(counters, counter, 1)
        .xadd(keys.workflowInboxOf(result.taskClass, part), '*', ...res)
        .exec();
      const failed = replies?.find(([err]) => err);
      if (failed) throw failed[0];
    });
  };
}
