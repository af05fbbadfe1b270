/**
 * What the fault suites read back about acknowledged tasks: whether each one ended (succeeded, or
 * is unknown: lost with writes a failed-over master never replicated), and how many "succeeded"
 * events each has on a class's events stream (exactly-once checks).
 */
import type { OrchestratorClient } from '../../src/client/orchestrator-client.js';
import { TaskState } from '../../src/client/orchestrator-client.js';
import type { RedisClient } from '../../src/redis/redis-client.js';
import { waitFor } from './wait.js';

/**
 * Waits until task `id` has succeeded ('succeeded') or is unknown to the system ('lost'); a task
 * that fails throws, and so does one that does neither within the wait (with `message`).
 */
export async function succeededOrLost(client: OrchestratorClient, id: string, message: string): Promise<'succeeded' | 'lost'> {
  return (await waitFor(
    async () => {
      try {
        const s = await client.getTaskStatus(id);
        if (s.state === TaskState.TASK_STATE_FAILED) throw new Error(`task ${id} failed: ${s.error}`);
        return s.state === TaskState.TASK_STATE_SUCCEEDED ? 'succeeded' : undefined;
      } catch (err) {
        if (/NOT_FOUND|no task/i.test(String(err))) return 'lost';
        throw err;
      }
    },
    { timeoutMs: 60_000, message },
  ))!;
}

/** task id -> number of "succeeded" events on `stream` (an events stream: codecs/feed-format.ts). */
export async function succeededEvents(redis: RedisClient, stream: string): Promise<Map<string, number>> {
  const succeeded = new Map<string, number>();
  for (const [, fields] of await redis.xrange(stream, '-', '+')) {
    const f = Object.fromEntries(fields.flatMap((v, i) => (i % 2 ? [] : [[v, fields[i + 1]!]])));
    if (f.type === 'succeeded') succeeded.set(f.task_id!, (succeeded.get(f.task_id!) ?? 0) + 1);
  }
  return succeeded;
}
