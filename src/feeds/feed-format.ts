/**
 * Stream protocol of the two feeds. Programs read these with XREAD / XREADGROUP directly,
 * so the field names below are a public contract (also in the README); add fields, never
 * rename or remove one.
 *
 * `<prefix>:events`, one entry per state change, trimmed with MAXLEN ~ streams.eventsMaxLen:
 *   type        submitted | started | progress | retrying | succeeded | failed | cancelled | stalled
 *               | requeued (a failed task queued again by RetryTasks, attempts reset; attempt "0")
 *   task_id     the task
 *   class       its task class
 *   attempt     1-based attempt the event belongs to ("0" for submitted)
 *   at          milliseconds since the epoch
 *   workflow_id present only when the task belongs to a workflow
 *   worker      present when a pool wrote it: the pool id
 *   detail      present when there is one: error text (retrying, failed, cancelled), progress
 *               JSON (progress), the retry delay in ms (retrying)
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
 *   error_code  task_failed | timed_out | cancelled | policy_denied (failed, cancelled)
 *   duration_ms run time of the final attempt
 *
 * The entry id is the cursor: resume with XREAD ... STREAMS key <last id seen>.
 */
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
  return f;
}

function toMap(fields: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i]!, fields[i + 1]!);
  return m;
}

export function parseEvent(fields: string[]): TaskEventRecord {
  const m = toMap(fields);
  return {
    type: (m.get('type') ?? 'submitted') as EventType,
    taskId: m.get('task_id') ?? '',
    taskClass: m.get('class') ?? '',
    attempt: Number(m.get('attempt') ?? 0),
    atMs: Number(m.get('at') ?? 0),
    workflowId: m.get('workflow_id'),
    workerId: m.get('worker'),
    detail: m.get('detail'),
    stepId: m.get('step_id'),
    state: m.get('state'),
    scheduleId: m.get('schedule_id'),
  };
}

export function parseResult(fields: string[]): TaskResultRecord {
  const m = toMap(fields);
  return {
    taskId: m.get('task_id') ?? '',
    taskClass: m.get('class') ?? '',
    attempt: Number(m.get('attempt') ?? 0),
    atMs: Number(m.get('at') ?? 0),
    state: (m.get('state') ?? 'failed') as FinalState,
    workflowId: m.get('workflow_id'),
    workerId: m.get('worker'),
    resultJson: m.get('result'),
    error: m.get('error'),
    errorCode: m.get('error_code'),
    durationMs: Number(m.get('duration_ms') ?? 0),
    scheduleId: m.get('schedule_id'),
  };
}
