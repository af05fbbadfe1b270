/** Schedule proto messages <-> domain types. Pure functions, no I/O. */
import * as pb from '../gen/orchestrator/v1/orchestrator.js';
import type { ScheduleSpec, ScheduleView } from '../schedules/schedule-spec.js';
import { invalidArgument } from '../tasks/errors.js';
import type { ExecutorSpec, TaskSubmission } from '../tasks/task-spec.js';
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

function toPbExecutor(e: ExecutorSpec | undefined): pb.ExecutorSpec | undefined {
  if (!e) return undefined;
  switch (e.kind) {
    case 'handler':
      return { kind: { $case: 'handler', value: { name: e.name } } };
    case 'command':
      return { kind: { $case: 'command', value: { argv: e.argv, env: e.env, cwd: e.cwd, name: e.name ?? '', args: e.args ?? {} } } };
    case 'http':
      return { kind: { $case: 'http', value: { url: e.url, method: e.method, headers: e.headers } } };
    case 'container': {
      const { kind: _kind, ...value } = e;
      return { kind: { $case: 'container', value } };
    }
    case 'slurm': {
      const { kind: _kind, ...value } = e;
      return { kind: { $case: 'slurm', value: { ...value, name: e.name ?? '', args: e.args ?? {}, account: e.account ?? '' } } };
    }
  }
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
    executor: toPbExecutor(t.executor),
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
