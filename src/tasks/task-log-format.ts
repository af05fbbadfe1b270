/**
 * The stored form of a task's logs: one Redis list per task, BullMQ's own job log list
 * (`<job key>:logs`, `{<prefix>}:q:<class>:<task_id>:logs`), one entry per line, every attempt's
 * lines appended in order. Bull Board's Logs tab reads that list, and BullMQ's job removal and
 * our retention (src/tasks/task-retention.ts) delete it with the job, so logs live exactly as
 * long as their task.
 *
 * Entry contract (documented in the README, "Task logs"; Redis-direct readers parse it):
 *
 *     <ISO-8601 time, ms, UTC> [attempt <n>] <stream>: <text>
 *     2026-12-06T01:50:00.123Z [attempt 2] stderr: boom
 *
 * - `<stream>` is `stdout`, `stderr` (a process's, container's or Slurm job's output, a
 *   sandboxed handler's console), `log` (a handler's `ctx.log`) or `system` (written by the
 *   pool itself: what the per-attempt bounds dropped).
 * - `<text>` holds no newline (output is split into lines) and is at most `logs.maxLineBytes`
 *   bytes; a longer line is cut and ends with " [cut]".
 * - Entries written by others (a `job.log()` of someone's own code) are kept, and read as
 *   `system` lines of the attempt before them.
 *
 * Why one list with a marker per line instead of a key per attempt: the list is where Bull Board
 * looks, and BullMQ already deletes it with the job (a key of our own would need every removal
 * path, BullMQ's included, to know it). An attempt's lines are found by parsing the markers.
 */

export const LOG_STREAMS = ['stdout', 'stderr', 'log', 'system'] as const;
export type LogStream = (typeof LOG_STREAMS)[number];

export interface TaskLogLine {
  attempt: number;
  atMs: number;
  stream: LogStream;
  text: string;
}

/** The text of a `system` line saying that the per-attempt bounds dropped output. */
export const DROPPED_MARK = 'lines dropped';

export function formatLogLine(line: TaskLogLine): string {
  return `${new Date(line.atMs).toISOString()} [attempt ${line.attempt}] ${line.stream}: ${line.text}`;
}

const ENTRY = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) \[attempt (\d{1,9})\] (stdout|stderr|log|system): ([^]*)$/;

/** Longest foreign entry (not in our format) handed out, in characters. */
const MAX_FOREIGN_CHARS = 8192;

/**
 * One stored entry as a line. `previousAttempt` is the attempt of the entry before it (foreign
 * entries belong to it). Never throws: Redis contents are not trusted.
 */
export function parseLogLine(entry: string, previousAttempt: number): TaskLogLine {
  const m = ENTRY.exec(entry);
  if (m) {
    const atMs = Date.parse(m[1]);
    return { atMs: Number.isFinite(atMs) ? atMs : 0, attempt: Number(m[2]), stream: m[3] as LogStream, text: m[4] };
  }
  return { atMs: 0, attempt: previousAttempt, stream: 'system', text: entry.length > MAX_FOREIGN_CHARS ? `${entry.slice(0, MAX_FOREIGN_CHARS)} [cut]` : entry };
}

/** Whether a line is the note that the bounds dropped part of its attempt's output. */
export function isDroppedNote(line: TaskLogLine): boolean {
  return line.stream === 'system' && line.text.includes(DROPPED_MARK);
}
