import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { eventFields, type TaskEventRecord } from '../codecs/feed-format.js';

/**
 * Appends one event to the events stream (XADD, MAXLEN ~ `eventsMaxLen`). One command, so no
 * script: the events that need to travel with a state change are written by that change's script.
 */
export function appendEvent(redis: RedisClient, keys: Keys, eventsMaxLen: number): (event: TaskEventRecord) => Promise<void> {
  return async (event) => {
    await redis.xadd(keys.events, 'MAXLEN', '~', eventsMaxLen, '*', ...eventFields(event));
  };
}
