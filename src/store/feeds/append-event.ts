import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { eventFields, type TaskEventRecord } from '../codecs/feed-format.js';

/**
 * Appends one event to its class's events stream (a class-less one to the workflow events stream) (XADD, MAXLEN ~ `eventsMaxLen`). One command, so no
 * script: the events that need to travel with a state change are written by that change's script.
 */
export function appendEvent(redis: RedisClient, keys: Keys, eventsMaxLen: number): (event: TaskEventRecord) => Promise<void> {
  return async (event) => {
    await redis.xadd(
      event.taskClass ? keys.eventsOf(event.taskClass, keys.partitionOf(event.taskClass, event.taskId)) : keys.workflowEvents,
      'MAXLEN',
      '~',
      eventsMaxLen,
      '*',
      ...eventFields(event),
    );
  };
}
