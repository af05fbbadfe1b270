/**
 * orchctl's one JSON shape (src/cli/json-output.ts) on the generated messages: proto3 JSON names
 * and enum names, every field present with absent ones null, counts kept, maps and oneofs intact.
 */
import { describe, expect, it } from 'vitest';
import { jsonOf, plainJson } from '../src/cli/json-output.js';
import { Schedule, TaskState, TaskStatus, WorkflowRun, WorkflowRunState, StepState } from '../src/gen/orchestrator/v1/orchestrator.js';

describe('orchctl JSON shape', () => {
  it('keeps every field of a message: enum names, numbers, null for what is absent', () => {
    const json = jsonOf(
      TaskStatus,
      TaskStatus.fromPartial({ taskId: 't-1', taskClass: 'cpu_short', state: TaskState.TASK_STATE_FAILED, maxAttempts: 3, submittedAtMs: 1_700_000_000_000 }),
    );
    expect(json).toEqual({
      taskId: 't-1',
      taskClass: 'cpu_short',
      state: 'TASK_STATE_FAILED',
      attemptsMade: 0,
      maxAttempts: 3,
      resultJson: null,
      error: null,
      progressJson: null,
      workerId: null,
      submittedAtMs: 1_700_000_000_000,
      startedAtMs: null,
      finishedAtMs: null,
      workflowId: null,
      priority: 0,
      scheduleId: null,
      undeliverable: null,
      failure: null,
      attempt: 0,
    });
    expect(jsonOf(TaskStatus, TaskStatus.fromPartial({}))).toMatchObject({ state: null });
  });

  it('walks nested messages and lists, and leaves map keys and values as they are', () => {
    const run = WorkflowRun.fromPartial({
      runId: 'r-1',
      state: WorkflowRunState.WORKFLOW_RUN_STATE_RUNNING,
      inputs: { snake_key: '', camelKey: 'v' },
      steps: [
        { stepId: 'a', state: StepState.STEP_STATE_SUCCEEDED, dependsOn: [], finishedAtMs: 5 },
        { stepId: 'b', dependsOn: ['a'] },
      ],
    });
    const json = jsonOf(WorkflowRun, run) as { state: string; inputs: object; steps: Record<string, unknown>[] };
    expect(json.state).toBe('WORKFLOW_RUN_STATE_RUNNING');
    expect(json.inputs).toEqual({ snake_key: '', camelKey: 'v' });
    expect(json.steps[0]).toMatchObject({ stepId: 'a', state: 'STEP_STATE_SUCCEEDED', dependsOn: [], finishedAtMs: 5, error: null, attempt: 0 });
    expect(json.steps[1]).toMatchObject({ stepId: 'b', state: null, dependsOn: ['a'], finishedAtMs: null });
  });

  it('writes a oneof as its member, and an unset one as null', () => {
    const s = Schedule.fromPartial({
      spec: {
        scheduleId: 'h',
        everyMs: 1000,
        task: { taskClass: 'cpu_short', executor: { kind: { $case: 'command', value: { name: 'uname', args: { a: '1' } } } } },
      },
    });
    const json = jsonOf(Schedule, s) as { spec: { everyMs: number; cron: unknown; task: { executor: unknown; backoff: unknown } }; nextRunAtMs: unknown };
    expect(json.spec.everyMs).toBe(1000);
    expect(json.spec.cron).toBeNull();
    expect(json.nextRunAtMs).toBeNull();
    expect(json.spec.task.executor).toEqual({ command: { name: 'uname', args: { a: '1' }, argv: [], env: {}, cwd: null } });
    expect(json.spec.task.backoff).toBeNull();
  });

  it('maps empty strings and undefined to null in values a command builds', () => {
    expect(plainJson({ taskClass: 'x', note: '', gone: undefined, n: 0, list: ['', 'a'] })).toEqual({
      taskClass: 'x',
      note: null,
      gone: null,
      n: 0,
      list: [null, 'a'],
    });
  });
});
