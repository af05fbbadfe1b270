/** Proto messages <-> domain types. Pure functions, no I/O. */
import * as pb from '../gen/orchestrator/v1/orchestrator.js';
import type { TaskEventRecord, TaskResultRecord } from '../store/codecs/feed-format.js';
import type { HealthView, Serving } from '../monitoring/system-status.js';
import { executorFromPb } from '../executors/registry.js';
import type { TaskSubmission } from '../tasks/task-spec.js';
import type { TaskState, TaskStatusView } from '../tasks/task-status.js';
import type { TaskFailure } from '../errors/task-failure.js';
import { invalidArgument, type ErrorCode } from '../errors/errors.js';
import { EMPTY_FILTER, type TaskFilter, type TaskSummaryView } from '../tasks/task-list.js';

const STATE: Record<TaskState, pb.TaskState> = {
  queued: pb.TaskState.TASK_STATE_QUEUED,
  scheduled: pb.TaskState.TASK_STATE_SCHEDULED,
  running: pb.TaskState.TASK_STATE_RUNNING,
  succeeded: pb.TaskState.TASK_STATE_SUCCEEDED,
  failed: pb.TaskState.TASK_STATE_FAILED,
  cancelled: pb.TaskState.TASK_STATE_CANCELLED,
};

export const toPbState = (s: TaskState): pb.TaskState => STATE[s];

const SERVING: Record<Serving, pb.ServingStatus> = {
  serving: pb.ServingStatus.SERVING_STATUS_SERVING,
  degraded: pb.ServingStatus.SERVING_STATUS_DEGRADED,
  not_serving: pb.ServingStatus.SERVING_STATUS_NOT_SERVING,
};

/** A backoff type, or undefined for the class default; invalid_argument naming `field` for a value this server does not know. */
function backoffKind(type: pb.BackoffType, field: string): 'fixed' | 'exponential' | undefined {
  switch (type) {
    case pb.BackoffType.BACKOFF_TYPE_UNSPECIFIED:
      return undefined;
    case pb.BackoffType.BACKOFF_TYPE_FIXED:
      return 'fixed';
    case pb.BackoffType.BACKOFF_TYPE_EXPONENTIAL:
      return 'exponential';
    default:
      throw invalidArgument(field, `unknown backoff type ${type} (BACKOFF_TYPE_FIXED or BACKOFF_TYPE_EXPONENTIAL, or unset for the class default)`);
  }
}

export function toSubmission(t: pb.TaskSpec | undefined, field: string): TaskSubmission {
  if (!t) throw invalidArgument(field, 'is required');
  let backoff: TaskSubmission['backoff'];
  if (t.backoff) backoff = { type: backoffKind(t.backoff.type, `${field}.backoff.type`), delayMs: t.backoff.delayMs };
  return {
    taskId: t.taskId,
    taskClass: t.taskClass,
    payload: t.payload,
    priority: t.priority,
    workflowId: t.workflowId,
    maxAttempts: t.maxAttempts,
    backoff,
    timeoutMs: t.timeoutMs,
    delayMs: t.delayMs,
    executor: executorFromPb(t.executor, `${field}.executor`),
  };
}

export function toPbFailure(f: TaskFailure | undefined): pb.TaskFailure | undefined {
  if (!f) return undefined;
  return { message: f.message, kind: f.kind, exitCode: f.exitCode, signal: f.signal ?? '', outputTail: f.outputTail, retryable: f.retryable };
}

export function toPbStatus(v: TaskStatusView): pb.TaskStatus {
  return { ...v, state: toPbState(v.state), failure: toPbFailure(v.failure) };
}

export function toPbEvent(cursor: string, e: TaskEventRecord): pb.TaskEvent {
  return {
    cursor,
    type: e.type,
    taskId: e.taskId,
    taskClass: e.taskClass,
    attempt: e.attempt,
    workflowId: e.workflowId ?? '',
    atMs: e.atMs,
    workerId: e.workerId ?? '',
    detail: e.detail ?? '',
    stepId: e.stepId ?? '',
    state: e.state ?? '',
    scheduleId: e.scheduleId ?? '',
    undeliverable: e.undeliverable ?? '',
  };
}

export function toPbResult(cursor: string, r: TaskResultRecord): pb.TaskResult {
  return {
    cursor,
    taskId: r.taskId,
    taskClass: r.taskClass,
    attempt: r.attempt,
    // A marker's state is not delivered either: a reader that skips the field sees no outcome.
    state: r.undeliverable ? pb.TaskState.TASK_STATE_UNSPECIFIED : toPbState(r.state),
    resultJson: r.resultJson ?? '',
    error: r.error ?? '',
    workflowId: r.workflowId ?? '',
    workerId: r.workerId ?? '',
    finishedAtMs: r.atMs,
    durationMs: r.durationMs,
    scheduleId: r.scheduleId ?? '',
    undeliverable: r.undeliverable ?? '',
    failure: r.undeliverable ? undefined : toPbFailure(r.failure),
  };
}

export function toPbHealth(h: HealthView): pb.HealthResponse {
  return {
    status: SERVING[h.status],
    version: h.version,
    uptimeMs: h.uptimeMs,
    components: h.components.map((c) => ({ name: c.name, status: SERVING[c.status], detail: c.detail })),
  };
}

// ---- finding and replaying tasks ----

const STATE_OF = new Map<pb.TaskState, TaskState>(Object.entries(STATE).map(([k, v]) => [v, k as TaskState]));

/** Proto states into ours; invalid_argument naming `field` for UNSPECIFIED or an unknown value. */
export function toStates(states: pb.TaskState[], field: string): TaskState[] {
  return states.map((s, i) => {
    const v = STATE_OF.get(s);
    if (!v) throw invalidArgument(`${field}[${i}]`, `not a task state: ${s}`);
    return v;
  });
}

export function toTaskFilter(f: pb.TaskFilter | undefined): TaskFilter {
  if (!f) return EMPTY_FILTER;
  return {
    taskClasses: f.taskClasses,
    states: toStates(f.states, 'filter.states'),
    workflowId: f.workflowId,
    submittedSinceMs: f.submittedSinceMs,
    submittedUntilMs: f.submittedUntilMs,
  };
}

export function toPbSummary(v: TaskSummaryView): pb.TaskSummary {
  return { ...v, state: toPbState(v.state) };
}

/** A per-task error code as the gRPC status name clients know (NOT_FOUND, FAILED_PRECONDITION). */
export function toStatusName(code: ErrorCode): string {
  return code.toUpperCase();
}
