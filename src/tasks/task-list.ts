/**
 * ListTasks: tasks newest first, filtered by class, state, workflow and submit time, paged by an
 * opaque cursor.
 *
 * Order and cursor: each class has a task list (`{<prefix>}:list:<class>`, a stream of task ids
 * whose entry ids' ms is the submit time, written by the claim script with the index entry).
 * Tasks are listed by (submit time, id) descending, merged across the selected classes
 * (src/store/lists/stream-newest-first.ts); the cursor is the last (time, id) a page looked at. A task submitted while a client pages scores above the cursor,
 * so it never shifts what later pages hold: nothing is missed or repeated. Tasks removed by
 * retention meanwhile simply no longer appear.
 *
 * State is read per task from its BullMQ job in one pipeline per page. Each page looks at no
 * more than `scanLimit` tasks; with selective filters a page can come back short (even empty)
 * with a token to go on from, so one call never walks an unbounded list.
 */
import type { RedisClient } from '../redis/redis-client.js';
import type { Keys } from '../store/keys.js';
import { invalidArgument } from '../errors/errors.js';
import { fromBullPriority } from './task-spec.js';
import type { TaskQueues } from './task-queues.js';
import type { TaskState } from './task-status.js';
import { streamNewestFirst } from '../store/lists/stream-newest-first.js';
import { readTaskSummaries, type JobPlace, type JobSummary } from '../store/tasks/read-task-summaries.js';

/** Which tasks a list, a retry or a purge is about; empty fields do not filter. */
export interface TaskFilter {
  taskClasses: string[];
  states: TaskState[];
  workflowId: string;
  /** Submitted at or after (ms since the epoch); 0: no bound. */
  submittedSinceMs: number;
  /** Submitted before (ms since the epoch); 0: no bound. */
  submittedUntilMs: number;
}

export const EMPTY_FILTER: TaskFilter = Object.freeze({ taskClasses: [], states: [], workflowId: '', submittedSinceMs: 0, submittedUntilMs: 0 });

export interface TaskSummaryView {
  taskId: string;
  taskClass: string;
  state: TaskState;
  /** This round's attempts (a RetryTasks starts a new round). */
  attemptsMade: number;
  maxAttempts: number;
  /** The number events carry for the latest attempt. */
  attempt: number;
  error: string;
  workflowId: string;
  priority: number;
  workerId: string;
  submittedAtMs: number;
  startedAtMs: number;
  finishedAtMs: number;
}

export interface TaskPage {
  tasks: TaskSummaryView[];
  /** Empty when there is nothing more. */
  nextPageToken: string;
}

/** page_size when the request gives 0. */
export const DEFAULT_PAGE_SIZE = 100;
/** Largest page_size. */
export const MAX_PAGE_SIZE = 1_000;
/** Most tasks one page looks at (at least page_size). */
const SCAN_LIMIT = 2_000;

/** What ListTasks reports for each place a job can be in. */
const STATE_OF: Record<JobPlace, TaskState> = { completed: 'succeeded', failed: 'failed', delayed: 'scheduled', active: 'running', waiting: 'queued' };

interface Cursor {
  /** Submit time of the last task looked at. */
  s: number;
  /** Its id. */
  i: string;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

export function decodeCursor(token: string): Cursor | undefined {
  if (!token) return undefined;
  let c: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(token)) throw new Error('not base64url');
    c = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalidArgument('page_token', 'malformed page token (pass next_page_token back unchanged)');
  }
  const { s, i } = (c ?? {}) as Partial<Cursor>;
  if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0 || typeof i !== 'string' || i === '') {
    throw invalidArgument('page_token', 'malformed page token (pass next_page_token back unchanged)');
  }
  return { s, i };
}

/** Checks a filter against the configured classes; throws invalid_argument naming the field. */
export function checkFilter(f: TaskFilter, queues: TaskQueues, field = 'filter'): void {
  for (const c of f.taskClasses) queues.partitionsOf(c, `${field}.task_classes`);
  if (f.submittedSinceMs < 0) throw invalidArgument(`${field}.submitted_since_ms`, `must not be negative, got ${f.submittedSinceMs}`);
  if (f.submittedUntilMs < 0) throw invalidArgument(`${field}.submitted_until_ms`, `must not be negative, got ${f.submittedUntilMs}`);
  if (f.submittedUntilMs && f.submittedUntilMs <= f.submittedSinceMs) {
    throw invalidArgument(`${field}.submitted_until_ms`, `must be after submitted_since_ms (${f.submittedSinceMs}), got ${f.submittedUntilMs}`);
  }
}

export interface TaskListerOptions {
  redis: RedisClient;
  keys: Keys;
  queues: TaskQueues;
}

interface Candidate {
  taskClass: string;
  taskId: string;
  score: number;
}

/** Newest first: by score, then by id bytewise (task ids are ASCII). */
const newestFirst = (a: Candidate, b: Candidate) => b.score - a.score || (a.taskId < b.taskId ? 1 : a.taskId > b.taskId ? -1 : 0);

export class TaskLister {
  private readonly jobs: ReturnType<typeof readTaskSummaries>;

  constructor(private readonly opts: TaskListerOptions) {
    this.jobs = readTaskSummaries(opts.redis, opts.keys);
  }

  /** One page. `pageSize` 0 means DEFAULT_PAGE_SIZE. */
  async list(filter: TaskFilter, pageSize: number, pageToken: string): Promise<TaskPage> {
    if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > MAX_PAGE_SIZE) {
      throw invalidArgument('page_size', `must be 0 (the default, ${DEFAULT_PAGE_SIZE}) to ${MAX_PAGE_SIZE}, got ${pageSize}`);
    }
    checkFilter(filter, this.opts.queues);
    const cursor = decodeCursor(pageToken);
    const size = pageSize || DEFAULT_PAGE_SIZE;
    const scan = Math.max(size, SCAN_LIMIT);
    const classes = filter.taskClasses.length ? [...new Set(filter.taskClasses)] : [...this.opts.queues.classes.keys()];

    let max = filter.submittedUntilMs ? filter.submittedUntilMs - 1 : Infinity;
    if (cursor) max = Math.min(max, cursor.s);
    const minScore = filter.submittedSinceMs || -Infinity;
    // One task list per class, per partition of a partitioned class: merged here by time.
    const lists = classes.flatMap((c) => this.opts.keys.partitions(c).map((p) => ({ c, p })));
    const perClass = await Promise.all(
      lists.map(({ c, p }) =>
        streamNewestFirst(this.opts.redis, this.opts.keys.taskList(c, p), {
          maxMs: max,
          minMs: minScore,
          cursor: cursor && { score: cursor.s, id: cursor.i },
          count: scan,
        }),
      ),
    );
    let more = false;
    const candidates: Candidate[] = [];
    perClass.forEach((entries, ci) => {
      if (entries.length >= scan) more = true;
      for (const e of entries) candidates.push({ taskClass: lists[ci]!.c, taskId: e.id, score: e.score });
    });
    candidates.sort(newestFirst);
    if (candidates.length > scan) {
      candidates.length = scan;
      more = true;
    }

    const tasks: TaskSummaryView[] = [];
    let looked = 0;
    const states = new Set(filter.states);
    for (let at = 0; at < candidates.length && tasks.length < size;) {
      const chunk = candidates.slice(at, at + Math.min(500, Math.max(size - tasks.length, 50)));
      const views = await this.summaries(chunk);
      for (const v of views) {
        looked += 1;
        if (v && (!states.size || states.has(v.state)) && (!filter.workflowId || v.workflowId === filter.workflowId)) {
          tasks.push(v);
          if (tasks.length === size) break;
        }
      }
      at += chunk.length;
    }
    const last = candidates[looked - 1];
    const nextPageToken = last && (more || looked < candidates.length) ? encodeCursor({ s: last.score, i: last.taskId }) : '';
    return { tasks, nextPageToken };
  }

  /**
   * Every task id matching a filter, page by page (for retry and purge by filter). Stops after
   * `limit` ids.
   */
  async *ids(filter: TaskFilter, limit = Infinity): AsyncIterable<{ taskId: string; taskClass: string }[]> {
    let token = '';
    let n = 0;
    do {
      const page = await this.list(filter, MAX_PAGE_SIZE, token);
      const batch = page.tasks.slice(0, Math.max(0, limit - n)).map((t) => ({ taskId: t.taskId, taskClass: t.taskClass }));
      n += batch.length;
      if (batch.length) yield batch;
      token = n < limit ? page.nextPageToken : '';
    } while (token);
  }

  /**
   * Summaries of tasks from their BullMQ jobs: one script call per class (its job keys share the
   * class's hash slot) and one HMGET of cancel marks; undefined for a task whose job is gone (no
   * longer retained), unless a cancel removed it from its queue.
   */
  private async summaries(list: Candidate[]): Promise<(TaskSummaryView | undefined)[]> {
    const { redis, keys, queues } = this.opts;
    // By (class, partition): a partition's job keys and cancel hash share its slot.
    const byClass = new Map<string, number[]>();
    list.forEach((c, i) => {
      const queue = `${c.taskClass}\t${keys.partitionOf(c.taskClass, c.taskId)}`;
      const at = byClass.get(queue);
      if (at) at.push(i);
      else byClass.set(queue, [i]);
    });
    const split = (queue: string) => {
      const tab = queue.indexOf('\t');
      return { cls: queue.slice(0, tab), part: Number(queue.slice(tab + 1)) };
    };
    const jobs: (JobSummary | undefined)[] = new Array<JobSummary | undefined>(list.length);
    const marks: (string | null)[] = new Array<string | null>(list.length).fill(null);
    await Promise.all([
      // One HMGET of cancel marks per cancel hash: one on a single Redis, one per class on a cluster.
      ...(keys.feedsPerClass ? [...byClass] : [['\t0', list.map((_, i) => i)] as const]).map(async ([queue, at]) => {
        const { cls, part } = split(queue);
        const got = await redis.hmget(keys.cancelOf(cls, part), ...at.map((i) => list[i]!.taskId));
        at.forEach((i, j) => (marks[i] = got[j] ?? null));
      }),
      ...[...byClass].map(async ([queue, at]) => {
        const { cls, part } = split(queue);
        const q = queues.partitionsOf(cls)[part]!;
        const sets = { completed: q.keys.completed!, failed: q.keys.failed!, delayed: q.keys.delayed! };
        const found = await this.jobs(
          cls,
          part,
          sets,
          at.map((i) => list[i]!.taskId),
        );
        at.forEach((i, j) => (jobs[i] = found[j]));
      }),
    ]);
    return list.map((c, i) => {
      const job = jobs[i];
      const cancelReason = marks[i] ?? null;
      if (!job) {
        if (cancelReason === null) return undefined;
        return { ...removedSummary(c), state: 'cancelled' as const, error: `cancelled: ${cancelReason}` };
      }
      const state = STATE_OF[job.place];
      const ours: TaskState = state === 'failed' && cancelReason !== null ? 'cancelled' : state;
      const made = job.attemptsMade;
      return {
        taskId: c.taskId,
        taskClass: c.taskClass,
        state: ours,
        // This round's, as GetTaskStatus reports them (a RetryTasks starts a new round).
        attemptsMade: ours === 'running' ? made + 1 : made,
        maxAttempts: job.attemptsAllowed ?? 1,
        attempt: job.attemptsBefore + (ours === 'running' ? made + 1 : made),
        error: job.failedReason,
        workflowId: job.workflowId,
        priority: fromBullPriority(job.bullPriority),
        workerId: job.processedBy,
        // The task-list score, the time the filter and the cursor use (task-status.ts, view()).
        submittedAtMs: c.score,
        startedAtMs: job.processedOnMs,
        finishedAtMs: job.finishedOnMs,
      };
    });
  }
}

function removedSummary(c: Candidate): TaskSummaryView {
  return {
    taskId: c.taskId,
    taskClass: c.taskClass,
    state: 'cancelled',
    attemptsMade: 0,
    maxAttempts: 0,
    attempt: 0,
    error: '',
    workflowId: '',
    priority: 0,
    workerId: '',
    submittedAtMs: c.score,
    startedAtMs: 0,
    finishedAtMs: 0,
  };
}
