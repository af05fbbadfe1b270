/** Mapping of ListPools, DrainPool and ListWorkflowRuns between the domain and orchestrator.v1. */
import * as pb from '../gen/orchestrator/v1/orchestrator.js';
import type { PoolState, PoolView } from '../pools/pool-registry.js';
import type { RunListFilter, RunSummaryView } from '../workflows/run-list.js';
import type { RunState } from '../workflows/workflow-runs.js';
import { invalidArgument } from '../errors/errors.js';
import { toPbRunState } from './workflow-mapping.js';

const POOL_STATE: Record<PoolState, pb.PoolState> = {
  running: pb.PoolState.POOL_STATE_RUNNING,
  draining: pb.PoolState.POOL_STATE_DRAINING,
  stopped: pb.PoolState.POOL_STATE_STOPPED,
  lost: pb.PoolState.POOL_STATE_LOST,
};

const RUN_STATE_OF: Partial<Record<pb.WorkflowRunState, RunState>> = {
  [pb.WorkflowRunState.WORKFLOW_RUN_STATE_RUNNING]: 'running',
  [pb.WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED]: 'succeeded',
  [pb.WorkflowRunState.WORKFLOW_RUN_STATE_FAILED]: 'failed',
  [pb.WorkflowRunState.WORKFLOW_RUN_STATE_CANCELLED]: 'cancelled',
};

export function toPbPool(p: PoolView): pb.Pool {
  return { ...p, state: POOL_STATE[p.state] };
}

export function toRunListFilter(req: pb.ListWorkflowRunsRequest): RunListFilter {
  return {
    workflowName: req.workflowName,
    states: req.states.map((s, i) => {
      const st = RUN_STATE_OF[s];
      if (!st) throw invalidArgument(`states[${i}]`, `is not a run state (RUNNING, SUCCEEDED, FAILED or CANCELLED), got ${s}`);
      return st;
    }),
    startedSinceMs: req.startedSinceMs,
    startedUntilMs: req.startedUntilMs,
  };
}

export function toPbRunSummary(v: RunSummaryView): pb.WorkflowRunSummary {
  return { ...v, state: toPbRunState(v.state) };
}
