import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import type { EncodedJob } from '../codecs/job-data.js';
import { storeScript } from '../store-script.js';

/**
 * BullMQ queue keys each class of a batch passes after its task list (the header's
 * KEYS[c + 1..11]); the class's events stream and counters hash follow them (KEYS[c + 12..13]).
 */
export const SUBMIT_QUEUE_KEYS = ['marker', 'meta', 'id', 'prioritized', 'delayed', 'completed', 'active', 'events', 'pc', 'wait', 'paused'] as const;
/** Values per task in the script's ARGV: its TASK_ARGS. */
export const SUBMIT_TASK_ARGS = 15;
/** The script's answer for a task whose schedule tick already submitted one: its TICK_DONE. */
export const SUBMIT_TICK_DONE = '\ttick';
/** The script's answer for a step task whose step stopped releasing: its STEP_STOPPED. */
export const SUBMIT_STEP_STOPPED = '\tstopped';

/** One task of a batch, as the submit script takes it. */
export interface SubmitEntry {
  taskId: string;
  /** Its task index value (codecs/task-index.ts). */
  indexValue: string;
  taskClass: string;
  /** BullMQ's keys of its class's queue (`queue.keys`). */
  queueKeys: Readonly<Record<string, string>>;
  workflowId?: string;
  delayMs: number;
  scheduleId?: string;
  scheduleTickMs?: number;
  job: EncodedJob;
}

/**
 * What became of each task of an accepted batch: `created` (claimed now: event, count, list entry
 * and job written); `tick_done` (its schedule tick already submitted a task), `step_stopped` (a
 * workflow step that no longer releases) and `existing` (in the index with the same content; its
 * job may be missing): nothing written.
 */
export type SubmitAnswer = 'created' | 'tick_done' | 'step_stopped' | 'existing';

export type SubmitReply =
  | { kind: 'accepted'; answers: SubmitAnswer[] }
  /** `entries[index]` is taken with different content (`existing`: the index's value); nothing was written. */
  | { kind: 'conflict'; index: number; existing: string };

/** Keys and ARGV go as arrays (src/store/lua-command.ts): a batch of 10,000 tasks is 120,000 arguments. */
type Command = (numKeys: number, keys: string[], argv: (string | number | Buffer)[]) => Promise<(string | number)[]>;

/**
 * lua/tasks/submit-tasks.lua: claims `entries` (ids unique within the batch) and adds their jobs,
 * all or nothing, in one script call.
 */
export function submitTasks(redis: RedisClient, keys: Keys, eventsMaxLen: number): (entries: readonly SubmitEntry[]) => Promise<SubmitReply> {
  const run = storeScript<Command>(redis, 'tasks/submit-tasks');
  return async (entries) => {
    const { keyList, argv } = submitCall(keys, eventsMaxLen, entries);
    const reply = await run(keyList.length, keyList, argv);
    if (reply[0] === 1) return { kind: 'conflict', index: Number(reply[1]) - 1, existing: String(reply[2]) };
    const answers: SubmitAnswer[] = [];
    for (let i = 1; i <= entries.length; i++) {
      const v = reply[i];
      answers.push(v === '' ? 'created' : v === SUBMIT_TICK_DONE ? 'tick_done' : v === SUBMIT_STEP_STOPPED ? 'step_stopped' : 'existing');
    }
    return { kind: 'accepted', answers };
  };
}

/** The KEYS and ARGV of one submit-tasks.lua call for `entries` (its header's layout). */
export function submitCall(keys: Keys, eventsMaxLen: number, entries: readonly SubmitEntry[]): { keyList: string[]; argv: (string | number | Buffer)[] } {
  const keyList = [keys.schedulesLast, keys.schedules];
  const listIndex = new Map<string, number>();
  const stepsIndex = new Map<string, number>();
  // Index buckets go after the class and run keys; their KEYS indexes are known only then.
  const buckets = new Map<string, number>();
  const bucketOf: number[] = [];
  const argv: (string | number | Buffer)[] = [eventsMaxLen];
  for (const t of entries) {
    let li = listIndex.get(t.taskClass);
    if (li === undefined) {
      li = keyList.push(keys.taskList(t.taskClass));
      for (const name of SUBMIT_QUEUE_KEYS) keyList.push(t.queueKeys[name]!);
      keyList.push(keys.eventsOf(t.taskClass), keys.countersOf(t.taskClass));
      listIndex.set(t.taskClass, li);
    }
    const wf = t.workflowId;
    let si = 0;
    if (wf) {
      si = stepsIndex.get(wf) ?? keyList.push(keys.runSteps(wf));
      stepsIndex.set(wf, si);
    }
    argv.push(t.taskId, t.indexValue, t.taskClass, wf ?? '', t.delayMs, t.scheduleId ?? '', t.scheduleTickMs ?? '', li);
    argv.push(t.job.args ?? '', t.job.data, t.job.opts, t.job.name, t.job.timestamp, si, 0);
    const bucket = keys.taskIndex(t.taskId);
    let bi = buckets.get(bucket);
    if (bi === undefined) buckets.set(bucket, (bi = buckets.size));
    bucketOf.push(bi);
  }
  const firstBucket = keyList.length + 1;
  for (const bucket of buckets.keys()) keyList.push(bucket);
  // Each task's last value (ix): the KEYS index of its bucket.
  for (let i = 0; i < bucketOf.length; i++) argv[(i + 1) * SUBMIT_TASK_ARGS] = firstBucket + bucketOf[i]!;
  return { keyList, argv };
}
