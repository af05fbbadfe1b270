/**
 * The workflow run page's routes, as plain functions returning {status, body}: the run as JSON
 * (WorkflowStatusReader.get: every step's state, dependencies, attempt and error), which the
 * page polls. The read_only role sees the run's secret inputs redacted. The page itself is a static file (static/workflow.html).
 */
import { errorAnswer, json } from './json-answer.js';
import type { RouteResult } from '../src/monitoring/probe-routes.js';
import type { WorkflowStatusReader } from '../src/workflows/workflow-status.js';
import type { DashboardRole } from './dashboard-auth.js';
import { redactSecrets, type SecretKeyTest } from './redaction.js';

export interface WorkflowRoutesOptions {
  status: WorkflowStatusReader;
  /** Input keys whose values the read_only role sees redacted (redaction.ts). */
  isSecret: SecretKeyTest;
}

export class WorkflowRoutes {
  constructor(private readonly opts: WorkflowRoutesOptions) {}

  async run(runId: string, role: DashboardRole): Promise<RouteResult> {
    try {
      const view = await this.opts.status.get(runId);
      return json(200, role === 'admin' ? view : { ...view, inputs: redactSecrets(view.inputs, this.opts.isSecret) });
    } catch (err) {
      return errorAnswer(err);
    }
  }
}
