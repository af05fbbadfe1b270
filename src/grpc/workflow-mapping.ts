/** Workflow proto messages <-> domain types. Pure functions, no I/O. */
import * as pb from '../gen/orchestrator/v1/orchestrator.js';
import type { FailurePolicy, WorkflowInput } from '../workflows/workflow-definition.js';
import type { RunState } from '../workflows/workflow-runs.js';
import type { StepState, WorkflowRunView, WorkflowUpdate } from '../workflows/workflow-status.js';
import { invalidArgument } from '../errors/errors.js';
import { toSubmission } from './mapping.js';

const RUN_STATE: Record<RunState, pb.WorkflowRunState> = {
  running: pb.WorkflowRunState.WORKFLOW_RUN_STATE_RUNNING,
  succeeded: pb.WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED,
  failed: pb.WorkflowRunState.WORKFLOW_RUN_STATE_FAILED,
  cancelled: pb.WorkflowRunState.WORKFLOW_RUN_STATE_CANCELLED,
};

const STEP_STATE: Record<StepState, pb.StepState> = {
  pending: pb.StepState.STEP_STATE_PENDING,
  queued: pb.StepState.STEP_STATE_QUEUED,
  running: pb.StepState.STEP_STATE_RUNNING,
  succeeded: pb.StepState.STEP_STATE_SUCCEEDED,
  failed: pb.StepState.STEP_STATE_FAILED,
  cancelled: pb.StepState.STEP_STATE_CANCELLED,
  skipped: pb.StepState.STEP_STATE_SKIPPED,
};

export const toPbRunState = (s: RunState): pb.WorkflowRunState => RUN_STATE[s];

const toPbPolicy = (p: FailurePolicy): pb.FailurePolicy =>
  p === 'continue' ? pb.FailurePolicy.FAILURE_POLICY_CONTINUE : pb.FailurePolicy.FAILURE_POLICY_FAIL_FAST;

/** UNSPECIFIED is the documented default (fail fast); a value this server does not know is refused, not guessed. */
function policyOf(p: pb.FailurePolicy): FailurePolicy {
  switch (p) {
    case pb.FailurePolicy.FAILURE_POLICY_UNSPECIFIED:
    case pb.FailurePolicy.FAILURE_POLICY_FAIL_FAST:
      return 'fail_fast';
    case pb.FailurePolicy.FAILURE_POLICY_CONTINUE:
      return 'continue';
    default:
      throw invalidArgument('failure_policy', `unknown failure policy ${p} (FAILURE_POLICY_FAIL_FAST or FAILURE_POLICY_CONTINUE)`);
  }
}

export function toWorkflowInput(req: pb.CreateWorkflowRequest): WorkflowInput {
  return {
    name: req.name,
    description: req.description,
    failurePolicy: policyOf(req.failurePolicy),
    steps: req.steps.map((s, i) => ({
      stepId: s.stepId,
      dependsOn: s.dependsOn,
      // A missing task is reported by validation, naming the step.
      task: s.task ? toSubmission(s.task, `steps[${i}].task`) : (undefined as never),
    })),
  };
}

export function toPbRun(v: WorkflowRunView): pb.WorkflowRun {
  return {
    runId: v.runId,
    workflowName: v.name,
    version: v.version,
    state: toPbRunState(v.state),
    failurePolicy: toPbPolicy(v.failurePolicy),
    inputs: v.inputs,
    startedAtMs: v.startedAtMs,
    finishedAtMs: v.finishedAtMs,
    stopReason: v.stopReason,
    steps: v.steps.map((s) => ({ ...s, state: STEP_STATE[s.state] })),
  };
}

export function toPbUpdate(cursor: string, u: WorkflowUpdate): pb.WorkflowStatusUpdate {
  return {
    ...u,
    cursor,
    runState: toPbRunState(u.runState),
    stepState: u.stepState ? STEP_STATE[u.stepState] : pb.StepState.STEP_STATE_UNSPECIFIED,
  };
}
