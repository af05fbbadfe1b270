/**
 * The connections of acknowledged writes (redis.waitReplicas > 0): the writes of every call that
 * is confirmed on replicas, and the WAITs that confirm them, go on connections of their own, one
 * of ours and one of BullMQ's (on a Redis Cluster: one per master each, as every connection).
 *
 * Why: WAIT must be sent on the connection that made the write (src/redis/replica-wait.ts), and
 * a blocked WAIT holds that connection: Redis reads nothing more from a blocked client until the
 * WAIT returns. On the connection the reads share, a replica that stops answering made every
 * GetTaskStatus, ListTasks or stream catch-up on that front end wait out redis.waitTimeoutMs
 * behind it (measured: a status read took 435 ms with a 400 ms timeout, test/replica-wait.int.test.ts).
 * With the writes apart, reads answer at once and only the calls that wait for replicas wait.
 *
 * Off (waitReplicas 0, the default) these are the read connections themselves: no connection more,
 * and the submit path is what it was.
 */
import { createFailFastRedis } from './connection.js';
import type { RedisClient } from './redis-client.js';

export interface WriteConnections {
  /** Our own connection of acknowledged writes (auto-pipelined, as ours are). */
  redis: RedisClient;
  /** BullMQ's connection of acknowledged writes (queue pause, limits, job schedulers, jobs added). */
  bullRedis: RedisClient;
  /** Whether these are connections of their own (to be closed), not the read connections. */
  readonly separate: boolean;
}

/** `reads`: the process's connections, used as they are when nothing waits for replicas. */
export async function openWriteConnections(
  url: string,
  waitReplicas: number,
  reads: { redis: RedisClient; bullRedis: RedisClient },
): Promise<WriteConnections> {
  if (waitReplicas === 0) return { ...reads, separate: false };
  const [redis, bullRedis] = await Promise.all([
    createFailFastRedis(url, 'orq-orchestrator-writes', true),
    createFailFastRedis(url, 'orq-orchestrator-queue-writes'),
  ]);
  return { redis, bullRedis, separate: true };
}
