/** Schedule proto messages <-> domain types. Pure functions, no I/O. */
import * as pb from '../gen/orchestrator/v1/orchestrator.js';
import type { ScheduleSpec, ScheduleView } from '../schedules/schedule-spec.js';
import { invalidArgument } from '../errors/errors.js';
import { executorToPb } from '../executors/registry.js';
import type { TaskSubmission } from '../tasks/task-spec.js';
import { toSubmission } from './mapping.js';

export function toScheduleSpec(s: pb.ScheduleSpec | undefined, field: string): ScheduleSpec {
  if (!s) throw invalidArgument(field, 'is required');
  return {
    scheduleId: s.scheduleId,
    cron: s.cron,
    tz: s.tz,
    everyMs: s.everyMs,
    startAtMs: s.startAtMs,
    endAtMs: s.endAtMs,
    task: toSubmission(s.task, `${field}.task`),
    paused: s.paused,
  };
}

const BACKOFF: Record<string, pb.BackoffType> = {
  fixed: pb.BackoffType.BACKOFF_TYPE_FIXED,
  exponential: pb.BackoffType.BACKOFF_TYPE_EXPONENTIAL,
};

export function toPbTaskSpec(t: TaskSubmission): pb.TaskSpec {
  return {
    taskId: t.taskId ?? '',
    taskClass: t.taskClass,
    payload: t.payload,
    priority: t.priority ?? 0,
    workflowId: t.workflowId ?? '',
    maxAttempts: t.maxAttempts ?? 0,
    backoff: t.backoff ? { type: BACKOFF[t.backoff.type ?? ''] ?? pb.BackoffType.BACKOFF_TYPE_UNSPECIFIED, delayMs: t.backoff.delayMs } : undefined,
    timeoutMs: t.timeoutMs ?? 0,
    delayMs: t.delayMs ?? 0,
    executor: t.executor ? executorToPb(t.executor) : undefined,
  };
}

export function toPbSchedule(v: ScheduleView): pb.Schedule {
  const s = v.spec;
  return {
    spec: {
      scheduleId: s.scheduleId,
      cron: s.cron,
      tz: s.tz,
      everyMs: s.everyMs,
      startAtMs: s.startAtMs,
      endAtMs: s.endAtMs,
      task: toPbTaskSpec(s.task),
      paused: s.paused,
    },
    createdAtMs: v.createdAtMs,
    updatedAtMs: v.updatedAtMs,
    nextRunAtMs: v.nextRunAtMs,
    lastRunAtMs: v.lastRunAtMs,
    lastTaskId: v.lastTaskId,
  };
}
