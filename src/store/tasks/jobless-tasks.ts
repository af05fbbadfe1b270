import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';

/**
 * Of `taskIds` of class `taskClass`, those whose BullMQ job is gone (cancelled while queued, or
 * removed by hand): one pipeline of EXISTS.
 */
export function joblessTasks(redis: RedisClient, keys: Keys): (taskClass: string, taskIds: readonly string[]) => Promise<string[]> {
  return async (taskClass, taskIds) => {
    const pipe = redis.pipeline();
    for (const id of taskIds) pipe.exists(keys.job(taskClass, id));
    const res = (await pipe.exec()) ?? [];
    return taskIds.filter((_, i) => res[i]?.[1] === 0);
  };
}
