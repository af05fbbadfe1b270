import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';

/**
 * Records a cancel request (HSET task_id -> reason on its class's cancel hash) and announces it on the
 * cancel channel (`<task_id>\t<reason>`), in one MULTI (the channel, one for every class, is no key: a MULTI of one key on a cluster): a pool that starts the task later finds
 * the record, one running it hears the message, and neither can happen without the other.
 */
export function requestCancel(redis: RedisClient, keys: Keys): (taskClass: string, taskId: string, reason: string) => Promise<void> {
  return async (taskClass, taskId, reason) => {
    await redis
      .multi()
      .hset(keys.cancelOf(taskClass, keys.partitionOf(taskClass, taskId)), taskId, reason)
      .publish(keys.cancelChannel, `${taskId}\t${reason}`)
      .exec();
  };
}
