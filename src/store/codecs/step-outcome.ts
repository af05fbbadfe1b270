/**
 * A workflow step's final outcome as a run's outcomes hash stores it (`{orq}:run:<id>:out`,
 * step_id -> this JSON), and the step task's id. Built in one place for both writers: the
 * workflow engine, from a step task's result on the workflow inbox (src/workflows/workflow-runs.ts
 * stepFinished), and a pool's finish of a step whose releases were staged, from the result it
 * writes (src/store/bullmq/task-backend.ts, lua/includes/staged-step.lua). Fields are only ever
 * added.
 */
import type { TaskResultRecord } from './feed-format.js';

/** A final step's outcome as stored. */
export interface StepOutcome {
  state: 'succeeded' | 'failed' | 'cancelled' | 'skipped';
  attempt: number;
  /** JSON text of the result, when succeeded. */
  result?: string;
  error?: string;
  at: number;
}

/** The task id of step `stepId` of run `runId`: "<run_id>.<step_id>". */
export function stepTaskId(runId: string, stepId: string): string {
  return `${runId}.${stepId}`;
}

/** The step id of a step task of `runId`, or undefined for any other task. */
export function stepIdOf(runId: string, taskId: string): string | undefined {
  return taskId.startsWith(`${runId}.`) ? taskId.slice(runId.length + 1) : undefined;
}

/** The outcome a step task's final result records for its step. */
export function stepOutcomeOf(r: TaskResultRecord): StepOutcome {
  const outcome: StepOutcome = { state: r.state, attempt: r.attempt, at: r.atMs };
  if (r.state === 'succeeded') outcome.result = r.resultJson ?? 'null';
  if (r.error) outcome.error = r.error;
  return outcome;
}
