/**
 * A task's final outcome, recorded in its BullMQ job hash (field `orq_final`) together with the
 * feed entries, before BullMQ is told the attempt ended.
 *
 * Why: the feeds are written first so that a pool dying mid-finish causes a rerun, never a task
 * that finished without a result. The record closes the two gaps that order leaves:
 * - GetTaskStatus: in the moment between the result entry and BullMQ's own bookkeeping the job
 *   is still "active"; the record lets status answer with the outcome the feeds already show.
 * - Reruns: a pool that starts an attempt already recorded as finished (its first pool died
 *   after writing the outcome) replays the recorded outcome instead of running the task again.
 * A record is valid only for the attempt it names; retrying a finished task must delete it.
 */
import type { Redis } from 'ioredis';
import type { TaskResultRecord } from '../feeds/feed-format.js';

export const FINAL_FIELD = 'orq_final';

export function recordOutcome(redis: Redis, jobKey: string, r: TaskResultRecord): Promise<number> {
  return redis.hset(jobKey, FINAL_FIELD, JSON.stringify(r));
}

/** The recorded outcome of `attempt`, if there is one. */
export function parseOutcome(raw: string | null | undefined, attempt: number): TaskResultRecord | undefined {
  if (!raw) return undefined;
  try {
    const r = JSON.parse(raw) as TaskResultRecord;
    return r.attempt === attempt ? r : undefined;
  } catch {
    return undefined;
  }
}
