/**
 * Reading task logs (GetTaskLogs, StreamTaskLogs): the task's job log list, parsed
 * (task-log-format.ts), one attempt's lines picked out.
 *
 * Following polls the list and the task's state rather than listening to a feed: the pools
 * write each attempt's last lines before its outcome is committed (workers/task-processor.ts),
 * so one more read after the task is seen final finds every line, and a poll needs no
 * subscription of its own on Redis.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Cursored, StreamContext } from '../feeds/feed-subscriptions.js';
import { invalidArgument, OrchestratorError } from '../errors/errors.js';
import { isDroppedNote, parseLogLine, type TaskLogLine } from './task-log-format.js';
import type { TaskLogStore } from './task-log-store.js';
import type { TaskState, TaskStatusReader, TaskStatusView } from './task-status.js';

export interface TaskLogsView {
  taskId: string;
  /** The attempt served; 0 for all attempts. */
  attempt: number;
  lines: TaskLogLine[];
  truncated: boolean;
  /** Attempts that have lines, ascending. */
  attempts: number[];
  state: TaskState;
}

export interface TaskLogReaderOptions {
  store: TaskLogStore;
  status: TaskStatusReader;
  /** Most bytes of line text one answer carries (the oldest lines go first). */
  maxAnswerBytes: number;
  /** How often a follower looks for new lines. */
  followPollMs: number;
}

/** Entries read per LRANGE. */
const PAGE = 1_000;
/**
 * Most entries one read looks at. The pools bound each attempt, but the list is in Redis, where
 * anything can write: a read must end whatever it holds.
 */
const MAX_SCAN = 500_000;
/** Bytes a line costs in an answer beyond its text (fields, framing). */
const LINE_OVERHEAD = 24;

const FINAL: ReadonlySet<TaskState> = new Set(['succeeded', 'failed', 'cancelled']);

function checkAttempt(attempt: number): number {
  if (!Number.isInteger(attempt) || attempt < 0) throw invalidArgument('attempt', 'must be 0 (the latest) or an attempt number');
  return attempt;
}

export class TaskLogReader {
  constructor(private readonly opts: TaskLogReaderOptions) {}

  /** One attempt's lines (0: the latest), or every attempt's. NOT_FOUND for an unknown task. */
  async get(taskId: string, attempt = 0, allAttempts = false): Promise<TaskLogsView> {
    if (!taskId) throw invalidArgument('task_id', 'is required');
    checkAttempt(attempt);
    const status = await this.opts.status.get(taskId);
    const seen = new Set<number>();
    // Lines of every attempt are kept until the latest is known, when no attempt was named.
    const kept: TaskLogLine[] = [];
    let keptBytes = 0;
    const trimmed = new Set<number>();
    let prev = 0;
    for (let start = 0; start < MAX_SCAN; start += PAGE) {
      const entries = await this.opts.store.range(status.taskClass, taskId, start, PAGE);
      for (const e of entries) {
        const line = parseLogLine(e, prev);
        prev = line.attempt;
        seen.add(line.attempt);
        if (!allAttempts && attempt !== 0 && line.attempt !== attempt) continue;
        kept.push(line);
        keptBytes += line.text.length + LINE_OVERHEAD;
      }
      // Bounded while reading: without a named attempt, everything is kept until the end.
      while (keptBytes > this.opts.maxAnswerBytes * 2 && kept.length > 0) {
        const gone = kept.shift()!;
        keptBytes -= gone.text.length + LINE_OVERHEAD;
        trimmed.add(gone.attempt);
      }
      if (entries.length < PAGE) break;
    }
    const attempts = [...seen].filter((a) => a > 0).sort((a, b) => a - b);
    const served = allAttempts ? 0 : attempt || Math.max(status.attemptsMade, attempts.at(-1) ?? 0);
    const lines = allAttempts || attempt !== 0 ? kept : kept.filter((l) => l.attempt === served);
    // Fit one message: the end of an attempt is where its failure is, so the oldest lines go.
    let truncated = allAttempts ? trimmed.size > 0 : trimmed.has(served);
    let bytes = lines.reduce((n, l) => n + Buffer.byteLength(l.text) + LINE_OVERHEAD, 0);
    while (bytes > this.opts.maxAnswerBytes && lines.length > 0) {
      bytes -= Buffer.byteLength(lines.shift()!.text) + LINE_OVERHEAD;
      truncated = true;
    }
    truncated ||= lines.some(isDroppedNote);
    return { taskId, attempt: served, lines, truncated, attempts, state: status.state };
  }

  /**
   * The lines of `attempt` (0: the latest attempt and every later one) so far, then new ones
   * as they are written, until the task is final (or the named attempt is over). The cursor of
   * each line is its index in the list.
   */
  async *follow(taskId: string, attempt: number, ctx: StreamContext): AsyncIterable<Cursored<TaskLogLine>> {
    if (!taskId) throw invalidArgument('task_id', 'is required');
    checkAttempt(attempt);
    let status: TaskStatusView | undefined = await this.opts.status.get(taskId);
    const taskClass = status.taskClass;
    // Without a named attempt: from the latest one, as GetTaskLogs serves it.
    let from = attempt;
    if (from === 0) from = Math.max(1, status.attemptsMade, await this.lastAttempt(taskClass, taskId));
    let index = 0;
    let prev = 0;
    let scanned = 0;
    for (;;) {
      const over = status === undefined || FINAL.has(status.state) || (attempt !== 0 && attemptOver(status, attempt));
      // Everything written up to now; after the task was seen final, that is every line.
      for (;;) {
        if (ctx.signal.aborted) return;
        const entries = await this.opts.store.range(taskClass, taskId, index, PAGE);
        for (const e of entries) {
          const line = parseLogLine(e, prev);
          prev = line.attempt;
          const cursor = String(index++);
          if (attempt === 0 ? line.attempt >= from : line.attempt === attempt) yield { cursor, item: line };
        }
        scanned += entries.length;
        if (scanned > MAX_SCAN) throw new OrchestratorError('resource_exhausted', `task_id: the log of task "${taskId}" has over ${MAX_SCAN} entries`);
        if (entries.length < PAGE) break;
      }
      if (over) return;
      try {
        await delay(this.opts.followPollMs, undefined, { signal: ctx.signal });
      } catch {
        return;
      }
      // A task removed meanwhile (retention, PurgeTasks) ends the stream with what was read.
      status = await this.opts.status.get(taskId).catch((err: unknown) => {
        if (err instanceof OrchestratorError && err.code === 'not_found') return undefined;
        throw err;
      });
    }
  }

  /** The highest attempt with lines (0: none). */
  private async lastAttempt(taskClass: string, taskId: string): Promise<number> {
    const len = await this.opts.store.length(taskClass, taskId);
    if (len === 0) return 0;
    // The last entry in our format names it; a foreign one at the end says nothing.
    const [last] = await this.opts.store.range(taskClass, taskId, len - 1, 1);
    return last === undefined ? 0 : parseLogLine(last, 0).attempt;
  }
}

/** Whether `attempt` of the task has ended (a later one started, or the task waits for one). */
function attemptOver(status: TaskStatusView, attempt: number): boolean {
  return status.attemptsMade > attempt || (status.attemptsMade === attempt && status.state !== 'running');
}
