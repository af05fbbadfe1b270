/**
 * The workflow run page's routes, as plain functions returning {status, body}: the run as JSON
 * (WorkflowStatusReader.get: every step's state, dependencies, attempt and error), which the
 * page polls. The read_only role sees the run's secret inputs redacted. The page itself is a static file (static/workflow.html).
 */
import { OrchestratorError } from '../src/tasks/errors.js';
import type { RouteResult } from '../src/monitoring/probe-routes.js';
import type { WorkflowStatusReader } from '../src/workflows/workflow-status.js';
import type { DashboardRole } from './dashboard-auth.js';
import { redactSecrets, type SecretKeyTest } from './redaction.js';

export interface WorkflowRoutesOptions {
  status: WorkflowStatusReader;
  /** Input keys whose values the read_only role sees redacted (redaction.ts). */
  isSecret: SecretKeyTest;
}

const json = (status: number, body: unknown): RouteResult => ({ status, contentType: 'application/json; charset=utf-8', body: JSON.stringify(body) });

export class WorkflowRoutes {
  constructor(private readonly opts: WorkflowRoutesOptions) {}

  async run(runId: string, role: DashboardRole): Promise<RouteResult> {
    try {
      const view = await this.opts.status.get(runId);
      return json(200, role === 'admin' ? view : { ...view, inputs: redactSecrets(view.inputs, this.opts.isSecret) });
    } catch (err) {
      if (err instanceof OrchestratorError && err.code === 'not_found') return json(404, { error: err.message });
      if (err instanceof OrchestratorError && err.code === 'invalid_argument') return json(400, { error: err.message });
      throw err;
    }
  }
}
