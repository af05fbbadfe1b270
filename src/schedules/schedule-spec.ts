/**
 * The schedule model: a recurring submission of one task spec, timed by a cron expression (read
 * in a time zone) or a fixed interval. Validation happens before anything is written and names
 * the field at fault, like task validation (src/tasks/task-spec.ts), which it reuses for the task.
 */
import { CronExpressionParser } from 'cron-parser';
import type { RepeatOptions } from 'bullmq';
import { invalidArgument } from '../errors/errors.js';
import type { TaskSubmission } from '../tasks/task-spec.js';

export interface ScheduleSpec {
  scheduleId: string;
  /** A cron expression (5 fields, or 6 with seconds first); '' when everyMs is set. */
  cron: string;
  /** IANA time zone of the cron expression; '' means UTC. Only with cron. */
  tz: string;
  /** Interval in ms, the first tick at once (or at startAtMs); 0 when cron is set. */
  everyMs: number;
  /** No tick before this time (ms since the epoch); 0: from now. */
  startAtMs: number;
  /** No tick after this time (ms since the epoch); 0: never ending. */
  endAtMs: number;
  /** Submitted each tick with task id "<scheduleId>.<tick ms>"; its own taskId stays unset. */
  task: TaskSubmission;
  /** Stored, but not firing. */
  paused: boolean;
}

/** What the schedules hash holds per schedule. */
export interface StoredSchedule {
  spec: ScheduleSpec;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface ScheduleView extends StoredSchedule {
  /** 0 when paused or past its end. */
  nextRunAtMs: number;
  /** 0 and '' before the first tick. */
  lastRunAtMs: number;
  lastTaskId: string;
}

/**
 * 100, not 128: the fired task's id appends "." and a 13-digit tick time and must stay within
 * the 128 characters of a task id.
 */
const SCHEDULE_ID_RE = /^[A-Za-z0-9._-]{1,100}$/;
const ALL_DIGITS_RE = /^\d+$/;
/** Shorter intervals would be a load test, not a schedule. */
export const MIN_EVERY_MS = 100;
const MAX_EVERY_MS = 366 * 24 * 3_600_000;
const MAX_CRON_LENGTH = 256;

/** Checks a task spec the way SubmitTask would; throws invalid_argument naming `field`. */
export type TaskCheck = (t: TaskSubmission, field: string) => void;

function checkTimeZone(field: string, tz: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw invalidArgument(field, `"${tz.slice(0, 64)}" is not an IANA time zone (e.g. "Europe/Berlin", "UTC")`);
  }
}

/** The next tick of a cron expression after `afterMs`, or undefined when there is none. */
export function nextCronTick(cron: string, tz: string, afterMs: number, endAtMs = 0): number | undefined {
  const it = CronExpressionParser.parse(cron, { tz: tz || 'UTC', currentDate: new Date(afterMs), ...(endAtMs ? { endDate: new Date(endAtMs) } : {}) });
  try {
    return it.next().getTime();
  } catch {
    return undefined;
  }
}

function checkMs(field: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) throw invalidArgument(field, `must be an integer from ${min} to ${max}, got ${v}`);
}

/**
 * Validates a schedule and returns it normalised (trimmed cron, a task without id). `field` is
 * the request field holding the schedule, e.g. "schedule".
 */
export function validateSchedule(s: ScheduleSpec, checkTask: TaskCheck, field: string, nowMs = Date.now()): ScheduleSpec {
  const f = field;
  if (!SCHEDULE_ID_RE.test(s.scheduleId) || ALL_DIGITS_RE.test(s.scheduleId)) {
    throw invalidArgument(`${f}.schedule_id`, `"${s.scheduleId.slice(0, 140)}" must be 1-100 characters of A-Z a-z 0-9 . _ -, not all digits`);
  }
  const cron = s.cron.trim().replace(/\s+/g, ' ');
  if (cron && s.everyMs) throw invalidArgument(`${f}.cron`, 'give either cron or every_ms, not both');
  // Named every_ms: an interval of 0 reads the same as no interval at all.
  if (!cron && !s.everyMs) throw invalidArgument(`${f}.every_ms`, `one of cron and every_ms (at least ${MIN_EVERY_MS}) is required`);
  checkMs(`${f}.start_at_ms`, s.startAtMs, 0, Number.MAX_SAFE_INTEGER);
  checkMs(`${f}.end_at_ms`, s.endAtMs, 0, Number.MAX_SAFE_INTEGER);
  if (s.endAtMs && s.endAtMs <= Math.max(s.startAtMs, nowMs)) throw invalidArgument(`${f}.end_at_ms`, 'lies in the past or before start_at_ms');
  if (cron) {
    if (cron.length > MAX_CRON_LENGTH) throw invalidArgument(`${f}.cron`, `is over ${MAX_CRON_LENGTH} characters`);
    if (s.tz) checkTimeZone(`${f}.tz`, s.tz);
    let next: number | undefined;
    try {
      next = nextCronTick(cron, s.tz, Math.max(s.startAtMs, nowMs), s.endAtMs);
    } catch (err) {
      throw invalidArgument(`${f}.cron`, `"${cron.slice(0, 100)}" is not a cron expression: ${(err as Error).message}`);
    }
    if (next === undefined) throw invalidArgument(`${f}.cron`, `"${cron.slice(0, 100)}" never fires${s.endAtMs ? ' before end_at_ms' : ''}`);
  } else {
    if (s.tz) throw invalidArgument(`${f}.tz`, 'applies only to cron (an interval is the same in every zone)');
    checkMs(`${f}.every_ms`, s.everyMs, MIN_EVERY_MS, MAX_EVERY_MS);
  }
  if (s.task.taskId) throw invalidArgument(`${f}.task.task_id`, 'must be empty: each tick submits the task as "<schedule_id>.<tick ms>"');
  // The id the first tick would get: checks the task exactly as the runner will submit it.
  checkTask({ ...s.task, taskId: `${s.scheduleId}.${nowMs}`, scheduleId: s.scheduleId }, `${f}.task`);
  return { ...s, cron, task: { ...s.task, taskId: undefined } };
}

/** A JSON text of `v` with object keys sorted, so equal specs give equal text. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(
          Object.keys(x)
            .sort()
            .map((k) => [k, (x as Record<string, unknown>)[k]]),
        )
      : x,
  );
}

/** BullMQ's repeat options for the schedule's job scheduler. */
export function repeatOptions(s: ScheduleSpec): Omit<RepeatOptions, 'key'> {
  const window = { ...(s.startAtMs ? { startDate: s.startAtMs } : {}), ...(s.endAtMs ? { endDate: s.endAtMs } : {}) };
  return s.cron ? { pattern: s.cron, tz: s.tz || 'UTC', ...window } : { every: s.everyMs, ...window };
}
