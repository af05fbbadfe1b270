import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';

/**
 * Drops a task's cancel request (HDEL on its class's cancel hash): for a task that succeeded before its
 * cancel took effect, so its status does not read as cancelled.
 */
export function clearCancel(redis: RedisClient, keys: Keys): (taskClass: string, taskId: string) => Promise<void> {
  return async (taskClass, taskId) => {
    await redis.hdel(keys.cancelOf(taskClass, keys.partitionOf(taskClass, taskId)), taskId);
  };
}
