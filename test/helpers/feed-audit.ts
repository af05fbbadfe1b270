/**
 * Audits of the events and results feeds as a Redis reader sees them (README "Feeds: stream
 * formats", "Delivery guarantees"): every entry read with paged XRANGE, grouped by task, and the
 * rules the feeds promise checked per task.
 */
import type { Cluster, Redis } from 'ioredis';
import { compareIds } from '../../src/feeds/stream-tailer.js';
import type { FeedStream } from '../../src/store/keys.js';

export interface FeedEntry {
  id: string;
  f: Record<string, string>;
}

export const FINAL_STATES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled']);

const PAGE = 5_000;

/** Every entry of a stream from `start` (an entry id, inclusive; `-` for all) to its end. */
export async function readFeed(r: Redis | Cluster, key: string, start = '-'): Promise<FeedEntry[]> {
  const out: FeedEntry[] = [];
  let from = start;
  for (;;) {
    const page = await r.xrange(key, from, '+', 'COUNT', PAGE);
    for (const [id, list] of page) {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < list.length; i += 2) f[list[i]!] = list[i + 1]!;
      out.push({ id, f });
    }
    if (page.length < PAGE) return out;
    from = `(${page[page.length - 1]![0]}`;
  }
}

/**
 * Every entry of a feed's streams (Keys.eventStreams / resultStreams: one stream on a single
 * Redis, one per class and the workflow events' on a cluster) from `start`, in entry id order.
 * A task's entries are all on one stream, whose ids only grow, so each task's entries keep their
 * stream order; across streams (different shards' clocks) the order means nothing.
 */
export async function readFeeds(r: Redis | Cluster, streams: readonly FeedStream[], start = '-'): Promise<FeedEntry[]> {
  const out: FeedEntry[] = [];
  for (const s of streams) out.push(...(await readFeed(r, s.key, start)));
  return streams.length > 1 ? out.sort((a, b) => compareIds(a.id, b.id)) : out;
}

/** Entries grouped by task id, each group in stream order. Entries without a task id are left out. */
export function byTask(entries: FeedEntry[]): Map<string, FeedEntry[]> {
  const out = new Map<string, FeedEntry[]>();
  for (const e of entries) {
    const id = e.f.task_id;
    if (!id) continue;
    const list = out.get(id);
    if (list) list.push(e);
    else out.set(id, [e]);
  }
  return out;
}

/** The results entries of tasks with more than one final outcome on the results stream. */
export function duplicateResults(results: Map<string, FeedEntry[]>): { taskId: string; outcomes: string[] }[] {
  const out: { taskId: string; outcomes: string[] }[] = [];
  for (const [taskId, list] of results) {
    const finals = list.filter((e) => FINAL_STATES.has(e.f.state ?? ''));
    if (finals.length > 1) out.push({ taskId, outcomes: finals.map((e) => `${e.f.state}@${e.f.attempt} by ${e.f.worker ?? '?'} (${e.id})`) });
  }
  return out;
}

export interface LifecycleViolation {
  taskId: string;
  why: string;
  /** When the event that broke the rule was written (its `at`). */
  atMs: number;
  /** The task's events, as describeEvents gives them. */
  events: string;
}

/**
 * Each task's lifecycle events read as a state machine: a task is queued, `started` makes it
 * running, `stalled` or `retrying` makes it queued again, a final event ends it. What a reader
 * must never see (README "Delivery guarantees"):
 * - a second final event, or any event but `progress` after the final one (a run that lost its
 *   lock writing `retrying` after the rerun's outcome);
 * - `started` while the task is running (the rerun's start on the stream before the stall that
 *   caused it: a running task seen going back to queued);
 * - `retrying` or a final `succeeded`/`failed` while no run has started (an outcome of a run
 *   that had already lost the task);
 * - after `retrying` of attempt N, a start of attempt N again: that attempt's failure was
 *   written, but its move to the next attempt was refused (the run had lost its lock). A
 *   hand-back on shutdown (`retrying`, "handed back: ...") uses no attempt, so its task starts
 *   the same attempt again.
 * `stalled` while queued is allowed: a pool can die between taking a job and writing `started`.
 * `cancelled` may come in any state before the final one.
 */
export function lifecycleViolations(events: Map<string, FeedEntry[]>): LifecycleViolation[] {
  const out: LifecycleViolation[] = [];
  for (const [taskId, list] of events) {
    let state: 'queued' | 'running' | 'final' = 'queued';
    /** The attempt the last `retrying` (not a hand-back) failed, until the next start. */
    let failedAttempt: string | undefined;
    let why = '';
    let atMs = 0;
    for (const e of list) {
      atMs = Number(e.f.at ?? 0);
      const type = e.f.type ?? '';
      if (type === 'progress' || type === 'submitted' || type === 'workflow_step' || type === 'workflow_run') continue;
      if (state === 'final') {
        why = `${type} after the final event`;
      } else if (type === 'started') {
        if (state === 'running') why = 'started while running (no stalled or retrying since the last start)';
        else if (failedAttempt !== undefined && e.f.attempt === failedAttempt)
          why = `attempt ${failedAttempt} started again after its retrying event (a retry written by a run whose move was refused)`;
        failedAttempt = undefined;
        state = 'running';
      } else if (type === 'stalled') {
        state = 'queued';
      } else if (type === 'retrying') {
        if (state !== 'running') why = 'retrying with no run started';
        failedAttempt = /^handed back/.test(e.f.detail ?? '') ? undefined : e.f.attempt;
        state = 'queued';
      } else if (type === 'succeeded' || type === 'failed') {
        if (state !== 'running') why = `${type} with no run started`;
        state = 'final';
      } else if (type === 'cancelled') {
        state = 'final';
      }
      if (why) break;
    }
    if (why) out.push({ taskId, why, atMs, events: describeEvents(list) });
  }
  return out;
}

/** A task's events in one line: type@attempt by worker, in stream order. */
export function describeEvents(list: FeedEntry[]): string {
  return list
    .filter((e) => e.f.type !== 'progress')
    .map((e) => `${e.f.type}@${e.f.attempt ?? '?'}${e.f.worker ? ` by ${e.f.worker}` : ''}${e.f.detail ? ` (${e.f.detail.slice(0, 80)})` : ''}`)
    .join(', ');
}
