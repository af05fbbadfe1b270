import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import type { EncodedJob } from '../codecs/job-data.js';
import { storeScript } from '../store-script.js';
import { hashTag } from '../../redis/hash-tag.js';
import { bucketKeys } from './index-slots.js';
import { decodeTaskIndex } from '../codecs/task-index.js';
import { settleTaskIds } from './settle-task-ids.js';
import { groupBy } from '../group-by.js';

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
/** submit-class-tasks.lua's answer for a task whose job is in its queue: its EXISTING. */
export const SUBMIT_EXISTING = '\texisting';
/** submit-class-tasks.lua's answer for a task a cancel removed while queued: its JOBLESS. */
export const SUBMIT_JOBLESS = '\tjobless';
/** Values per task in claim-task-ids.lua's ARGV: its CLAIM_ARGS. */
export const CLAIM_ARGS = 3;
/** Values per task in settle-task-ids.lua's ARGV: its SETTLE_ARGS. */
export const SETTLE_ARGS = 4;

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
 * What became of each task of an accepted batch: `created` (added now: event, count, list entry
 * and job written); `tick_done` (its schedule tick already submitted a task), `step_stopped` (a
 * workflow step that no longer releases), `existing` (in the index with the same content; on a
 * single Redis its job may be missing, on a cluster it is in its queue), `jobless` (existing,
 * and a cancel removed its job while it was queued; cluster only) and `cancelled` (claimed but
 * never added, and a cancel is marked for it: a workflow step whose run stopped while its task
 * was being released; cluster only, not added): nothing written.
 */
export type SubmitAnswer = 'created' | 'tick_done' | 'step_stopped' | 'existing' | 'jobless' | 'cancelled';

export type SubmitReply =
  | { kind: 'accepted'; answers: SubmitAnswer[] }
  /** `entries[index]` is taken with different content (`existing`: the index's value); nothing was written. */
  | { kind: 'conflict'; index: number; existing: string };

/** Keys and ARGV go as arrays (src/store/lua-command.ts): a batch of 10,000 tasks is 120,000 arguments. */
type Command = (numKeys: number, keys: string[], argv: (string | number | Buffer)[]) => Promise<(string | number)[]>;

/**
 * Claims `entries` (ids unique within the batch) and adds their tasks. On a single Redis
 * lua/tasks/submit-tasks.lua does both, all or nothing, in one script call; on a Redis Cluster the
 * index is apart from the classes' keys (keys.ts TASK_INDEX_SLOTS) and submitApart does it in
 * three steps.
 */
export function submitTasks(redis: RedisClient, keys: Keys, eventsMaxLen: number): (entries: readonly SubmitEntry[]) => Promise<SubmitReply> {
  if (keys.cluster) return submitApart(redis, keys, eventsMaxLen);
  // Written at once: the caller batches its calls already (src/tasks/submitter.ts rounds).
  const run = storeScript<Command>(redis, 'tasks/submit-tasks', { atOnce: true });
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

/**
 * A submission on a Redis Cluster, where no script may take the index and a class's keys
 * together:
 * 1. claim-task-ids.lua, one call per index slot of the batch: the ids are claimed, or found
 *    claimed with the same content (a conflict releases this call's claims in the other slots,
 *    and nothing else was written);
 * 2. submit-class-tasks.lua, one call per class slot: the tasks are added, every one of them,
 *    those found claimed too, unless already added (its job is in its queue, or a cancel removed
 *    it): so a claim left by a front end stopped between the steps is completed by the
 *    caller's retry of the same content, and no task is ever added twice. A workflow step's
 *    task is added without its step's state, which is in its run's slot: the engine reads it
 *    after the submission (src/workflows/workflow-runs.ts markQueued) and cancels the task of a
 *    step stopped meanwhile;
 * 3. settle-task-ids.lua, per index slot: each claim gets its task's list entry, or is released
 *    when its task was not added (its schedule tick already submitted one).
 * A failure between the steps leaves claims without their list entry; the caller's retry (the
 * submission was not acknowledged) completes them.
 */
function submitApart(redis: RedisClient, keys: Keys, eventsMaxLen: number): (entries: readonly SubmitEntry[]) => Promise<SubmitReply> {
  const claim = storeScript<Command>(redis, 'tasks/claim-task-ids');
  const add = storeScript<(numKeys: number, keys: string[], argv: (string | number | Buffer)[]) => Promise<string[]>>(redis, 'tasks/submit-class-tasks');
  const settle = settleTaskIds(redis, keys);
  /** Settles `which` (entry indexes) with their list entries ("" releases). */
  const settleAll = (entries: readonly SubmitEntry[], which: [number, string][]) =>
    settle(which.map(([i, entry]) => ({ taskId: entries[i]!.taskId, indexValue: entries[i]!.indexValue, entry })));
  return async (entries) => {
    // 1. Claims, per index slot.
    const bySlot = [...groupBy(entries.keys(), (i) => hashTag(keys.taskIndex(entries[i]!.taskId)))];
    const claims = await Promise.all(
      bySlot.map(([, group]) => {
        const { keyList, indexOf } = bucketKeys(
          keys,
          group.map((i) => entries[i]!.taskId),
        );
        const argv = group.flatMap((i, k) => [entries[i]!.taskId, entries[i]!.indexValue, String(indexOf[k])]);
        return claim(keyList.length, keyList, argv);
      }),
    );
    const claimedNow: boolean[] = [];
    /** Claimed, now or before, and not settled: its task may never have been added. */
    const unsettled: boolean[] = [];
    let conflict: { index: number; existing: string } | undefined;
    claims.forEach((reply, g) => {
      const group = bySlot[g]![1];
      if (reply[0] === 1) {
        const index = group[Number(reply[1]) - 1]!;
        if (!conflict || index < conflict.index) conflict = { index, existing: String(reply[2]) };
      } else
        group.forEach((i, k) => {
          const v = String(reply[k + 1]);
          claimedNow[i] = v === '';
          unsettled[i] = v === '' || decodeTaskIndex(v).listEntry === '';
        });
    });
    if (conflict) {
      await settleAll(
        entries,
        [...entries.keys()].filter((i) => claimedNow[i]).map((i): [number, string] => [i, '']),
      );
      return { kind: 'conflict', ...conflict };
    }
    // 2. The tasks, per class slot.
    const answers: SubmitAnswer[] = [];
    const toSettle: [number, string][] = [];
    await Promise.all(
      // A partitioned class's tasks go to their partitions' slots (keys.partitionOf).
      [...groupBy(entries.keys(), (i) => hashTag(keys.taskList(entries[i]!.taskClass, keys.partitionOf(entries[i]!.taskClass, entries[i]!.taskId))))].map(
        async ([, group]) => {
          const { keyList, argv } = submitCall(
            keys,
            eventsMaxLen,
            group.map((i) => entries[i]!),
          );
          const reply = await add(keyList.length, keyList, argv);
          group.forEach((i, k) => {
            const v = String(reply[k]);
            answers[i] =
              v === SUBMIT_TICK_DONE
                ? 'tick_done'
                : v === SUBMIT_STEP_STOPPED
                  ? 'step_stopped'
                  : v === SUBMIT_EXISTING
                    ? 'existing'
                    : v === SUBMIT_JOBLESS
                      ? // Never added, a cancel mark already there: a workflow step whose run stopped while it was released.
                        unsettled[i]
                        ? 'cancelled'
                        : 'jobless'
                      : 'created';
            if (answers[i] === 'created') toSettle.push([i, v]);
            else if (claimedNow[i] && (answers[i] === 'tick_done' || answers[i] === 'step_stopped')) toSettle.push([i, '']);
          });
        },
      ),
    );
    // 3. Claims completed with their list entries, or released.
    await settleAll(entries, toSettle);
    return { kind: 'accepted', answers };
  };
}

/**
 * The KEYS and ARGV of one submit-tasks.lua call for `entries` (its header's layout); on a cluster
 * (keys.cluster) of one submit-class-tasks.lua call: each class's cancel hash and last-tick hash
 * after its other keys, no schedules keys before them, no run steps hashes, no index buckets.
 * `keysBefore`: keys the call passes before these (workflows/step-done.lua), which the KEYS
 * indexes in `argv` count.
 */
export function submitCall(
  keys: Keys,
  eventsMaxLen: number,
  entries: readonly SubmitEntry[],
  keysBefore = 0,
): { keyList: string[]; argv: (string | number | Buffer)[] } {
  // On a cluster each class passes its own last-tick hash (with its other keys) instead.
  const keyList = keys.cluster ? [] : [keys.schedulesLast, keys.schedules];
  const listIndex = new Map<string, number>();
  const stepsIndex = new Map<string, number>();
  // Index buckets go after the class and run keys; their KEYS indexes are known only then.
  const buckets = new Map<string, number>();
  const bucketOf: number[] = [];
  const argv: (string | number | Buffer)[] = [eventsMaxLen];
  for (const t of entries) {
    // One set of class keys per (class, partition): a partitioned class's partitions are queues of their own.
    const part = keys.partitionOf(t.taskClass, t.taskId);
    const queueOf = `${t.taskClass}\t${part}`;
    let li = listIndex.get(queueOf);
    if (li === undefined) {
      li = keysBefore + keyList.push(keys.taskList(t.taskClass, part));
      for (const name of SUBMIT_QUEUE_KEYS) keyList.push(t.queueKeys[name]!);
      keyList.push(keys.eventsOf(t.taskClass, part), keys.countersOf(t.taskClass, part));
      if (keys.cluster) keyList.push(keys.cancelOf(t.taskClass, part), keys.schedulesLastOf(t.taskClass, part));
      listIndex.set(queueOf, li);
    }
    const wf = t.workflowId;
    let si = 0;
    // On a cluster a run's steps hash is in another slot than the task's class: the engine checks
    // its steps after the submission instead (mark-queued: a step stopped meanwhile gets its task cancelled).
    if (wf && !keys.cluster) {
      si = stepsIndex.get(wf) ?? keysBefore + keyList.push(keys.runSteps(wf));
      stepsIndex.set(wf, si);
    }
    argv.push(t.taskId, t.indexValue, t.taskClass, wf ?? '', t.delayMs, t.scheduleId ?? '', t.scheduleTickMs ?? '', li);
    argv.push(t.job.args ?? '', t.job.data, t.job.opts, t.job.name, t.job.timestamp, si, 0);
    if (keys.cluster) continue;
    const bucket = keys.taskIndex(t.taskId);
    let bi = buckets.get(bucket);
    if (bi === undefined) buckets.set(bucket, (bi = buckets.size));
    bucketOf.push(bi);
  }
  const firstBucket = keysBefore + keyList.length + 1;
  for (const bucket of buckets.keys()) keyList.push(bucket);
  // Each task's last value (ix): the KEYS index of its bucket.
  for (let i = 0; i < bucketOf.length; i++) argv[(i + 1) * SUBMIT_TASK_ARGS] = firstBucket + bucketOf[i]!;
  return { keyList, argv };
}
