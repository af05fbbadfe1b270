/**
 * A task's final outcome on the feeds: the keys and arguments of lua/includes/outcome-writes.lua
 * (its final event, its result, also on the workflow inbox for a workflow's task, and the
 * finished count). The scripts that end a task run it together with the change that ends it, so
 * the feeds and BullMQ's state never disagree: a pool's finish (src/store/bullmq/task-backend.ts)
 * and the removal of a task cancelled while queued (lua/tasks/cancel-queued.lua).
 */
import { Packr } from 'msgpackr';
import type { Keys } from './keys.js';
import { eventFields, resultFields, type TaskEventRecord, type TaskResultRecord } from './codecs/feed-format.js';

/**
 * The four keys the writes of a task of `taskClass` use, in the order writeOutcome expects them
 * (KEYS[k..k+3]): its class's events and results streams (src/store/keys.ts), its class's counters and workflow inbox.
 */
export function outcomeKeys(keys: Keys, taskClass: string, part = 0): string[] {
  return [keys.eventsOf(taskClass, part), keys.resultsOf(taskClass, part), keys.countersOf(taskClass, part), keys.workflowInboxOf(taskClass, part)];
}

/** The packer BullMQ's Redis backend uses; Redis's Lua reads it with cmsgpack. */
const packer = new Packr({ useRecords: false });

/** Arguments of the writes (ARGV[a..a+4]). */
export const OUTCOME_ARGS = 5;

/**
 * The arguments of the writes: events MAXLEN, results MAXLEN, counter field, the event's and the
 * result's fields packed as one msgpack array of two arrays (one argument instead of one per
 * field: each argument costs the client and Redis more than its bytes do), then "1" when the
 * result also goes to the workflow inbox.
 */
export function outcomeArgv(event: TaskEventRecord, result: TaskResultRecord, eventsMaxLen: number, resultsMaxLen: number): (string | number | Buffer)[] {
  const fields = packer.pack([eventFields(event), resultFields(result)]) as Buffer;
  return [eventsMaxLen, resultsMaxLen, `${result.state}:${result.taskClass}`, fields, result.workflowId ? '1' : '0'];
}
