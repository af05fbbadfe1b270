/**
 * ListTasks: tasks newest first, filtered by class, state, workflow and submit time, paged by an
 * opaque cursor.
 *
 * Order and cursor: each class has a task list (`{<prefix>}:tasks:<class>`, a zset of task ids
 * scored by submit time, written by the claim script with the index entry). Tasks are listed by
 * (submit time, id) descending, merged across the selected classes; the cursor is the last
 * (time, id) a page looked at. A task submitted while a client pages scores above the cursor,
 * so it never shifts what later pages hold: nothing is missed or repeated. Tasks removed by
 * retention meanwhile simply no longer appear.
 *
 * State is read per task from its BullMQ job in one pipeline per page. Each page looks at no
 * more than `scanLimit` tasks; with selective filters a page can come back short (even empty)
 * with a token to go on from, so one call never walks an unbounded list.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.js';
import { invalidArgument } from '../errors/errors.js';
import { fromBullPriority } from './task-spec.js';
import type { TaskQueues } from './task-queues.js';
import type { TaskState } from './task-status.js';
import { luaCommand } from '../store/lua-command.js';

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

/**
 * The next `count` entries of one class's task list after a cursor, newest first.
 * KEYS[1] the task list zset
 * ARGV[1] highest score to include (or "+inf"), ARGV[2] lowest score (or "-inf"),
 * ARGV[3] cursor score ("" for none), ARGV[4] cursor id, ARGV[5] count
 * Returns {id1, score1, id2, score2, ...}: entries ordered by (score, id) descending that come
 * strictly after (cursor score, cursor id). Ids compare bytewise, as the zset orders them; only
 * entries sharing the cursor's score (one batch submitted in the same millisecond) are skipped.
 */
export const PAGE_SCRIPT = `
local function before(a, b)
  local la, lb = #a, #b
  for i = 1, math.min(la, lb) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return la < lb
end
local want = tonumber(ARGV[5]) * 2
local chunk = tonumber(ARGV[5]) + 64
local cursor = ARGV[3] ~= '' and tonumber(ARGV[3]) or nil
local out = {}
local offset = 0
while true do
  local r = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES', 'LIMIT', offset, chunk)
  for i = 1, #r, 2 do
    if cursor == nil or tonumber(r[i + 1]) < cursor or before(r[i], ARGV[4]) then
      out[#out + 1] = r[i]
      out[#out + 1] = r[i + 1]
      if #out >= want then return out end
    end
  end
  if #r < chunk * 2 then return out end
  offset = offset + chunk
end
`;

/** Values per task in a JOBS_SCRIPT reply. */
const JOB_FIELDS = 12;

/** State codes of JOBS_SCRIPT. */
const STATE_CODE: Record<string, TaskState> = { c: 'succeeded', f: 'failed', d: 'scheduled', a: 'running', w: 'queued' };

/**
 * What a task summary needs from BullMQ, for tasks of one class.
 * KEYS[1] completed zset, KEYS[2] failed zset, KEYS[3] delayed zset (the class's queue)
 * ARGV[1] the queue's key prefix ("{<prefix>}:q:<class>:"), ARGV[2..] task ids
 * Returns 12 strings per task: "1" when its job exists (else "0" and the rest empty), state code
 * (c completed, f failed, d delayed, a active: its lock is held, w waiting or prioritized),
 * timestamp (BullMQ's; unused: the task-list score is the submit time reported), processedOn,
 * finishedOn, attempts made, failedReason, attempts allowed, BullMQ priority, processedBy (BullMQ
 * stores it as "pb"), workflow id, attempts before the last manual retry.
 * Job keys are built from ARGV[1], as BullMQ's own scripts do: they share the hash tag.
 * The workflow id and attemptsBefore are read from the tail of the job's data (TaskJobData ends
 * with them, after timeoutMs), so a large payload is neither decoded nor sent; payload values
 * are strings, so an unquoted number after "attemptsBefore": can only be ours.
 */
const JOBS_SCRIPT = `
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local key = ARGV[1] .. id
  local f = redis.call('HMGET', key, 'timestamp', 'processedOn', 'finishedOn', 'atm', 'failedReason', 'opts', 'priority', 'pb', 'data')
  if not f[1] then
    for _ = 1, 12 do out[#out + 1] = '' end
    out[#out - 11] = '0'
  else
    local code = 'w'
    if redis.call('ZSCORE', KEYS[1], id) then code = 'c'
    elseif redis.call('ZSCORE', KEYS[2], id) then code = 'f'
    elseif redis.call('ZSCORE', KEYS[3], id) then code = 'd'
    elseif redis.call('EXISTS', key .. ':lock') == 1 then code = 'a' end
    local attempts = f[6] and string.match(f[6], '"attempts":(%d+)') or ''
    local tail = f[9] and string.sub(f[9], -400) or ''
    local wf = string.match(tail, '"workflowId":"([%w%._%-]+)"}$') or ''
    local before = string.match(tail, '"attemptsBefore":(%d+)[,}]') or ''
    local row = {'1', code, f[1], f[2] or '', f[3] or '', f[4] or '', f[5] or '', attempts, f[7] or '', f[8] or '', wf, before}
    for j = 1, 12 do out[#out + 1] = row[j] end
  end
end
return out
`;

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
  for (const c of f.taskClasses) queues.get(c, `${field}.task_classes`);
  if (f.submittedSinceMs < 0) throw invalidArgument(`${field}.submitted_since_ms`, `must not be negative, got ${f.submittedSinceMs}`);
  if (f.submittedUntilMs < 0) throw invalidArgument(`${field}.submitted_until_ms`, `must not be negative, got ${f.submittedUntilMs}`);
  if (f.submittedUntilMs && f.submittedUntilMs <= f.submittedSinceMs) {
    throw invalidArgument(`${field}.submitted_until_ms`, `must be after submitted_since_ms (${f.submittedSinceMs}), got ${f.submittedUntilMs}`);
  }
}

export interface TaskListerOptions {
  redis: Redis;
  keys: Keys;
  queues: TaskQueues;
}

interface Candidate {
  taskClass: string;
  taskId: string;
  score: number;
}

type PageCommand = (key: string, max: string, min: string, cursorScore: string, cursorId: string, count: number) => Promise<string[]>;
type JobsCommand = (completed: string, failed: string, delayed: string, prefix: string, ...ids: string[]) => Promise<string[]>;

/** Newest first: by score, then by id bytewise (task ids are ASCII). */
const newestFirst = (a: Candidate, b: Candidate) => b.score - a.score || (a.taskId < b.taskId ? 1 : a.taskId > b.taskId ? -1 : 0);

export class TaskLister {
  private readonly page: PageCommand;
  private readonly jobs: JobsCommand;

  constructor(private readonly opts: TaskListerOptions) {
    this.page = luaCommand<PageCommand>(opts.redis, PAGE_SCRIPT, 1);
    this.jobs = luaCommand<JobsCommand>(opts.redis, JOBS_SCRIPT, 3);
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
    const maxArg = max === Infinity ? '+inf' : String(max);
    const minArg = filter.submittedSinceMs ? String(filter.submittedSinceMs) : '-inf';
    const perClass = await Promise.all(
      classes.map((c) => this.page(this.opts.keys.taskList(c), maxArg, minArg, cursor ? String(cursor.s) : '', cursor?.i ?? '', scan)),
    );
    let more = false;
    const candidates: Candidate[] = [];
    perClass.forEach((flat, ci) => {
      if (flat.length >= scan * 2) more = true;
      for (let i = 0; i < flat.length; i += 2) candidates.push({ taskClass: classes[ci]!, taskId: flat[i]!, score: Number(flat[i + 1]) });
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
    const byClass = new Map<string, number[]>();
    list.forEach((c, i) => {
      const at = byClass.get(c.taskClass);
      if (at) at.push(i);
      else byClass.set(c.taskClass, [i]);
    });
    const rows: string[][] = new Array<string[]>(list.length);
    const [marks] = await Promise.all([
      redis.hmget(keys.cancel, ...list.map((c) => c.taskId)),
      ...[...byClass].map(async ([cls, at]) => {
        const q = queues.get(cls);
        const flat = await this.jobs(q.keys.completed!, q.keys.failed!, q.keys.delayed!, keys.job(cls, ''), ...at.map((i) => list[i]!.taskId));
        at.forEach((i, j) => (rows[i] = flat.slice(j * JOB_FIELDS, (j + 1) * JOB_FIELDS)));
      }),
    ]);
    return list.map((c, i) => {
      const [found, code, , processedOn, finishedOn, atm, failedReason, attempts, priority, processedBy, workflowId, before] = rows[i]!;
      const cancelReason = marks[i] ?? null;
      if (found !== '1') {
        if (cancelReason === null) return undefined;
        return { ...removedSummary(c), state: 'cancelled' as const, error: `cancelled: ${cancelReason}` };
      }
      const state = STATE_CODE[code!]!;
      const ours: TaskState = state === 'failed' && cancelReason !== null ? 'cancelled' : state;
      const made = Number(atm || 0);
      const earlier = Number(before || 0);
      return {
        taskId: c.taskId,
        taskClass: c.taskClass,
        state: ours,
        // This round's, as GetTaskStatus reports them (a RetryTasks starts a new round).
        attemptsMade: ours === 'running' ? made + 1 : made,
        maxAttempts: Number(attempts || 1),
        attempt: earlier + (ours === 'running' ? made + 1 : made),
        error: failedReason ?? '',
        workflowId: workflowId ?? '',
        priority: fromBullPriority(Number(priority || 0)),
        workerId: processedBy ?? '',
        // The task-list score, the time the filter and the cursor use (task-status.ts, view()).
        submittedAtMs: c.score,
        startedAtMs: Number(processedOn || 0),
        finishedAtMs: Number(finishedOn || 0),
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
