import type { RedisClient } from '../../redis/redis-client.js';
import { storeScript } from '../store-script.js';

type Command = (jobKey: string, logKey: string, entries: readonly string[]) => Promise<number>;

/**
 * lua/tasks/append-log.lua: appends `entries` to the log list `logKey` of the job `jobKey`; the
 * list's new length, or -1 when the job is gone (nothing written).
 */
export function appendLog(redis: RedisClient): (jobKey: string, logKey: string, entries: readonly string[]) => Promise<number> {
  return storeScript<Command>(redis, 'tasks/append-log', { numberOfKeys: 2 });
}
