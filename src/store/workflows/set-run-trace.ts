import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';

/**
 * Stores the trace a run's steps continue (W3C traceparent, tracestate when there is one) in the
 * run's hash, next to its header. Written once per run, only with tracing on.
 */
export async function setRunTrace(redis: RedisClient, keys: Keys, runId: string, trace: { traceparent: string; tracestate?: string }): Promise<void> {
  await redis.hset(keys.run(runId), {
    traceparent: trace.traceparent,
    ...(trace.tracestate ? { tracestate: trace.tracestate } : {}),
  });
}
