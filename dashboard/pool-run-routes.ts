/**
 * The routes of the pools page and the workflow runs list, as plain functions returning
 * {status, body}: the pools as JSON (PoolRegistry.list), a drain (admin only; the dashboard's
 * origin rules have already refused a cross-site request), and a page of runs
 * (WorkflowRunList.list) from query parameters. The pages are static files (static/pools.*,
 * static/runs.*) that put every value in through textContent.
 */
import type { RouteResult } from '../src/monitoring/probe-routes.js';
import type { PoolRegistry } from '../src/pools/pool-registry.js';
import { OrchestratorError } from '../src/errors/errors.js';
import { errorAnswer, json } from './json-answer.js';
import type { RunListFilter, WorkflowRunList } from '../src/workflows/run-list.js';
import type { RunState } from '../src/workflows/workflow-runs.js';
import type { ReplicaWait } from '../src/redis/replica-wait.js';
import type { DashboardRole } from './dashboard-auth.js';

export interface PoolRunRoutesOptions {
  pools: PoolRegistry;
  runList: WorkflowRunList;
  /** Drain and resume answer once their writes are on redis.waitReplicas replicas, as DrainPool and ResumePool do. */
  replicas: ReplicaWait;
}

const RUN_STATES = new Set<string>(['running', 'succeeded', 'failed', 'cancelled']);

/** A query parameter given once, as a string; anything else (repeated, nested) is refused. */
function param(query: Record<string, unknown>, name: string, max = 1_000): string {
  const v = query[name];
  if (v === undefined) return '';
  if (typeof v !== 'string' || v.length > max)
    throw new OrchestratorError('invalid_argument', `${name}: expected one value of at most ${max} characters`, { field: name });
  return v;
}

function intParam(query: Record<string, unknown>, name: string): number {
  const v = param(query, name, 20);
  if (v === '') return 0;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)))
    throw new OrchestratorError('invalid_argument', `${name}: expected a whole number, got "${v}"`, { field: name });
  return Number(v);
}

export class PoolRunRoutes {
  constructor(private readonly opts: PoolRunRoutesOptions) {}

  /** `canDrain` tells the page whether to offer the drain button. */
  async pools(role: DashboardRole): Promise<RouteResult> {
    return json(200, { pools: await this.opts.pools.list(), atMs: Date.now(), canDrain: role === 'admin' });
  }

  /** Body: {"poolId": "...", "exitWhenDrained": false}. Admins only. */
  async drain(body: unknown, role: DashboardRole): Promise<RouteResult> {
    if (role !== 'admin') return json(403, { error: 'forbidden: draining a pool takes the admin role' });
    const b = (body ?? {}) as { poolId?: unknown; exitWhenDrained?: unknown };
    if (typeof b.poolId !== 'string') return json(400, { error: 'poolId: expected a string', field: 'poolId' });
    if (b.exitWhenDrained !== undefined && typeof b.exitWhenDrained !== 'boolean') {
      return json(400, { error: 'exitWhenDrained: expected true or false', field: 'exitWhenDrained' });
    }
    try {
      const r = await this.opts.replicas.confirm((w) => this.opts.pools.drain(b.poolId as string, b.exitWhenDrained === true, w));
      return json(200, { poolId: b.poolId, ...r });
    } catch (err) {
      return errorAnswer(err);
    }
  }

  /** Body: {"poolId": "..."}. Admins only. */
  async resume(body: unknown, role: DashboardRole): Promise<RouteResult> {
    if (role !== 'admin') return json(403, { error: 'forbidden: resuming a pool takes the admin role' });
    const b = (body ?? {}) as { poolId?: unknown };
    if (typeof b.poolId !== 'string') return json(400, { error: 'poolId: expected a string', field: 'poolId' });
    try {
      return json(200, { poolId: b.poolId, ...(await this.opts.replicas.confirm((w) => this.opts.pools.resume(b.poolId as string, w))) });
    } catch (err) {
      return errorAnswer(err);
    }
  }

  /** Query: workflow, state (comma-separated), since, until (ms), pageSize, pageToken. */
  async runs(query: Record<string, unknown>): Promise<RouteResult> {
    try {
      const states = param(query, 'state', 100)
        .split(',')
        .filter(Boolean)
        .map((s) => {
          if (!RUN_STATES.has(s)) throw new OrchestratorError('invalid_argument', `state: "${s.slice(0, 40)}" is not a run state`, { field: 'state' });
          return s as RunState;
        });
      const filter: RunListFilter = {
        workflowName: param(query, 'workflow', 200),
        states,
        startedSinceMs: intParam(query, 'since'),
        startedUntilMs: intParam(query, 'until'),
      };
      return json(200, await this.opts.runList.list(filter, intParam(query, 'pageSize'), param(query, 'pageToken')));
    } catch (err) {
      return errorAnswer(err);
    }
  }
}
