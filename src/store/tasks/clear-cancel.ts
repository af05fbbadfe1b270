import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';

/**
 * Drops a task's cancel request (HDEL on the cancel hash): for a task that succeeded before its
 * cancel took effect, so its status does not read as cancelled.
 */
export function clearCancel(redis: RedisClient, keys: Keys): (taskId: string) => Promise<void> {
  return async (taskId) => {
    await redis.hdel(keys.cancel, taskId);
  };
}
