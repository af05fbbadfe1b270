/**
 * Stream protocol of the two feeds. Programs read these with XREAD / XREADGROUP directly,
 * so the field names below are a public contract (also in the README); add fields, never
 * rename or remove one. On a Redis Cluster each class has its own events and results stream
 * (`<prefix>:events:<class>`, `<prefix>:results:<class>`; workflow_run and workflow_step events
 * stay in `<prefix>:events`: src/store/keys.ts), with these same fields.
 *
 * `<prefix>:events`, one entry per state change, trimmed with MAXLEN ~ streams.eventsMaxLen:
 *   type        submitted | started | progress | retrying | succeeded | failed | cancelled | stalled
 *               | requeued (a failed task queued again by RetryTasks; attempt: the one it runs next)
 *   task_id     the task
 *   class       its task class
 *   attempt     1-based attempt the event belongs to ("0" for submitted)
 *   at          milliseconds since the epoch
 *   workflow_id present only when the task belongs to a workflow
 *   worker      present when a pool wrote it: the pool id
 *   detail      present when there is one: error text (retrying, failed, cancelled), why
 *               (stalled), progress JSON (progress), the retry delay in ms (retrying)
 *   schedule_id present when a schedule submitted the task
 *
 * Workflow runs add two types, written by the workflow engine with workflow_id = the run id:
 *   workflow_run   the run's state changed: state running | succeeded | failed | cancelled;
 *                  task_id "" and attempt "0"; detail: why it stopped early
 *   workflow_step  a step's state changed: step_id, state queued | succeeded | failed |
 *                  cancelled | skipped, task_id "<run_id>.<step_id>", attempt; detail: error
 *
 * `<prefix>:results`, one entry per final outcome (at least once per task; duplicates carry the
 * same task_id and attempt), trimmed with MAXLEN ~ streams.resultsMaxLen:
 *   task_id, class, attempt, at, workflow_id?, worker?, schedule_id?   as above
 *   state       succeeded | failed | cancelled
 *   result      JSON of the handler's return value (succeeded only)
 *   error       error text (failed, cancelled)
 *   error_code  task_failed | timed_out | cancelled | policy_denied | result_too_large (failed,
 *               cancelled)
 *   duration_ms run time of the final attempt
 *   exit_code   failed: the process's exit code (command, container, Slurm job), when it had one
 *   signal      failed: the signal that killed the process, when one did
 *   output_tail failed: the end of the attempt's output (stderr, then stdout; an HTTP runner's
 *               body), at most pool.failureTailBytes, when there was any
 *   retryable   failed, cancelled: "1" when running the task again could help, else "0"
 *
 * The entry id is a stream's cursor: resume with XREAD ... STREAMS key <last id seen>. gRPC
 * cursors of a cluster's merged feeds hold one such id per stream (src/feeds/feed-cursor.ts).
 *
 * Anyone who can reach Redis can XADD anything to these streams, and an entry is read back whole.
 * parseEvent and parseResult never throw: an entry they cannot turn into a record (a required
 * field missing, a number that is not one, a result state that is not final, or more bytes than
 * one message may carry) comes back as a marker, a record with `undeliverable` set to why, so a
 * subscription delivers the marker with its cursor and goes on instead of stopping there.
 */
import type { TaskFailure } from '../../errors/task-failure.js';
import { failureFromMessage, tailOf } from '../../errors/task-failure.js';

export const EVENT_TYPES = [
  'submitted',
  'started',
  'progress',
  'retrying',
  'succeeded',
  'failed',
  'cancelled',
  'stalled',
  'requeued',
  'workflow_run',
  'workflow_step',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export type FinalState = 'succeeded' | 'failed' | 'cancelled';

export interface TaskEventRecord {
  type: EventType;
  taskId: string;
  taskClass: string;
  attempt: number;
  atMs: number;
  workflowId?: string;
  workerId?: string;
  detail?: string;
  /** workflow_step events. */
  stepId?: string;
  /** workflow_run and workflow_step events: the new state. */
  state?: string;
  /** Present when a schedule submitted the task. */
  scheduleId?: string;
  /** Set on a marker: why the entry cannot be delivered (its detail is dropped). */
  undeliverable?: string;
}

export interface TaskResultRecord {
  taskId: string;
  taskClass: string;
  attempt: number;
  atMs: number;
  state: FinalState;
  workflowId?: string;
  workerId?: string;
  /** JSON text, for succeeded. */
  resultJson?: string;
  error?: string;
  errorCode?: string;
  durationMs: number;
  scheduleId?: string;
  /** Failed and cancelled: why, whole (its message and kind are also `error` and `errorCode`). */
  failure?: TaskFailure;
  /** Set on a marker: why the entry cannot be delivered (its result and error are dropped). */
  undeliverable?: string;
}

/** A stream entry as Redis returns it: [id, [field, value, field, value, ...]]. */
export type RawEntry = [id: string, fields: string[]];

export function eventFields(e: TaskEventRecord): string[] {
  const f = ['type', e.type, 'task_id', e.taskId, 'class', e.taskClass, 'attempt', String(e.attempt), 'at', String(e.atMs)];
  if (e.workflowId) f.push('workflow_id', e.workflowId);
  if (e.workerId) f.push('worker', e.workerId);
  if (e.detail !== undefined) f.push('detail', e.detail);
  if (e.stepId !== undefined) f.push('step_id', e.stepId);
  if (e.state !== undefined) f.push('state', e.state);
  if (e.scheduleId) f.push('schedule_id', e.scheduleId);
  return f;
}

export function resultFields(r: TaskResultRecord): string[] {
  const f = ['task_id', r.taskId, 'class', r.taskClass, 'attempt', String(r.attempt), 'at', String(r.atMs), 'state', r.state];
  if (r.workflowId) f.push('workflow_id', r.workflowId);
  if (r.workerId) f.push('worker', r.workerId);
  if (r.resultJson !== undefined) f.push('result', r.resultJson);
  if (r.error !== undefined) f.push('error', r.error);
  if (r.errorCode !== undefined) f.push('error_code', r.errorCode);
  f.push('duration_ms', String(r.durationMs));
  if (r.scheduleId) f.push('schedule_id', r.scheduleId);
  const x = r.failure;
  if (x) {
    if (x.exitCode !== undefined) f.push('exit_code', String(x.exitCode));
    if (x.signal) f.push('signal', x.signal);
    if (x.outputTail) f.push('output_tail', x.outputTail);
    f.push('retryable', x.retryable ? '1' : '0');
  }
  return f;
}

function toMap(fields: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i]!, fields[i + 1]!);
  return m;
}

export interface ParseOptions {
  /**
   * Most bytes of field values an entry may hold to be delivered whole; above it, a marker.
   * @default no limit (the workflow engine reads its inbox whole)
   */
  maxBytes?: number;
}

/** Identifying fields a marker keeps: any longer is dropped with the rest. */
const MARKER_FIELD_MAX = 1024;

/** Bytes of an entry's field values, counted exactly only when a cheap bound is not enough. */
function entryBytes(fields: string[], maxBytes: number): number {
  let units = 0;
  for (const f of fields) units += f.length;
  // UTF-8 takes at most 3 bytes per UTF-16 unit.
  if (units * 3 <= maxBytes) return units;
  let bytes = 0;
  for (const f of fields) bytes += Buffer.byteLength(f);
  return bytes;
}

/** Reads fields, collecting what is wrong with them instead of throwing. */
class FieldReader {
  readonly problems: string[] = [];
  constructor(private readonly m: Map<string, string>) {}

  text(name: string): string | undefined {
    return this.m.get(name);
  }

  required(name: string): string {
    const v = this.m.get(name);
    if (v === undefined || v === '') this.problems.push(`${name} is missing`);
    return v ?? '';
  }

  /** A non-negative integer within `max`; 0 when absent and not required. */
  integer(name: string, max: number, required: boolean): number {
    const v = this.m.get(name);
    if (v === undefined) {
      if (required) this.problems.push(`${name} is missing`);
      return 0;
    }
    const n = /^\d{1,16}$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n > max) {
      this.problems.push(`${name} is not an integer from 0 to ${max}`);
      return 0;
    }
    return n;
  }
}

const INT32_MAX = 2 ** 31 - 1;

/** A marker's copy of a field: the value when short enough to be harmless, else absent. */
const short = (v: string | undefined) => (v !== undefined && v.length <= MARKER_FIELD_MAX ? v : undefined);

function sizeProblem(fields: string[], opts: ParseOptions): string | undefined {
  if (opts.maxBytes === undefined) return undefined;
  const bytes = entryBytes(fields, opts.maxBytes);
  return bytes > opts.maxBytes ? `entry of ${bytes} bytes is over the ${opts.maxBytes}-byte limit of one message` : undefined;
}

/** An events-stream entry as a record, or a marker (`undeliverable` set) when it cannot be one. */
export function parseEvent(fields: string[], opts: ParseOptions = {}): TaskEventRecord {
  const m = toMap(fields);
  const r = new FieldReader(m);
  const type = r.required('type');
  // Workflow run events belong to no task.
  const taskId = type === 'workflow_run' ? (r.text('task_id') ?? '') : r.required('task_id');
  const e: TaskEventRecord = {
    type: type as EventType,
    taskId,
    taskClass: r.text('class') ?? '',
    attempt: r.integer('attempt', INT32_MAX, false),
    atMs: r.integer('at', Number.MAX_SAFE_INTEGER, false),
    workflowId: r.text('workflow_id'),
    workerId: r.text('worker'),
    detail: r.text('detail'),
    stepId: r.text('step_id'),
    state: r.text('state'),
    scheduleId: r.text('schedule_id'),
  };
  const size = sizeProblem(fields, opts);
  if (size) r.problems.unshift(size);
  if (r.problems.length === 0) return e;
  return {
    type: (short(type) ?? '') as EventType,
    taskId: short(taskId) ?? '',
    taskClass: short(e.taskClass) ?? '',
    attempt: e.attempt,
    atMs: e.atMs,
    workflowId: short(e.workflowId),
    workerId: short(e.workerId),
    stepId: short(e.stepId),
    state: short(e.state),
    scheduleId: short(e.scheduleId),
    undeliverable: r.problems.join('; '),
  };
}

/** Longest output tail read back from an entry (one written by other means may be longer). */
const MAX_TAIL_BYTES = 65_536;

/** A failed or cancelled result's failure, from its fields (absent ones: an older entry). */
function failureOfFields(m: Map<string, string>, res: TaskResultRecord): TaskFailure {
  const kind = res.errorCode ?? (res.state === 'cancelled' ? 'cancelled' : 'task_failed');
  const f = failureFromMessage(res.error ?? '', kind, m.get('retryable') === '1');
  const code = m.get('exit_code');
  if (code !== undefined && /^-?\d{1,10}$/.test(code) && Math.abs(Number(code)) < 2 ** 31) f.exitCode = Number(code);
  const signal = m.get('signal');
  if (signal) f.signal = signal.slice(0, 32);
  f.outputTail = tailOf(m.get('output_tail') ?? '', MAX_TAIL_BYTES);
  return f;
}

const FINAL_STATES: ReadonlySet<string> = new Set<FinalState>(['succeeded', 'failed', 'cancelled']);

/** A results-stream entry as a record, or a marker (`undeliverable` set) when it cannot be one. */
export function parseResult(fields: string[], opts: ParseOptions = {}): TaskResultRecord {
  const m = toMap(fields);
  const r = new FieldReader(m);
  const state = r.required('state');
  if (state && !FINAL_STATES.has(state)) r.problems.push('state is not succeeded, failed or cancelled');
  const res: TaskResultRecord = {
    taskId: r.required('task_id'),
    taskClass: r.text('class') ?? '',
    attempt: r.integer('attempt', INT32_MAX, false),
    atMs: r.integer('at', Number.MAX_SAFE_INTEGER, false),
    // "failed" when unreadable, as before markers: the workflow engine ends the step rather than wait for ever.
    state: (FINAL_STATES.has(state) ? state : 'failed') as FinalState,
    workflowId: r.text('workflow_id'),
    workerId: r.text('worker'),
    resultJson: r.text('result'),
    error: r.text('error'),
    errorCode: r.text('error_code'),
    durationMs: r.integer('duration_ms', Number.MAX_SAFE_INTEGER, false),
    scheduleId: r.text('schedule_id'),
  };
  if (res.state !== 'succeeded') res.failure = failureOfFields(m, res);
  const size = sizeProblem(fields, opts);
  if (size) r.problems.unshift(size);
  if (r.problems.length === 0) return res;
  return {
    taskId: short(res.taskId) ?? '',
    taskClass: short(res.taskClass) ?? '',
    attempt: res.attempt,
    atMs: res.atMs,
    state: res.state,
    workflowId: short(res.workflowId),
    workerId: short(res.workerId),
    errorCode: short(res.errorCode),
    durationMs: res.durationMs,
    scheduleId: short(res.scheduleId),
    undeliverable: r.problems.join('; '),
  };
}
