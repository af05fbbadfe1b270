/**
 * The orchestrator's HTTP app (Express): /metrics, /health and /ready for Prometheus and probes,
 * open; and, behind DashboardAuth, Bull Board at /admin/queues and the workflow run page at
 * /admin/workflows/<run_id>. Routes only map a request onto a plain route function and its
 * {status, body} back.
 */
import express, { type Express, type Response } from 'express';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/paths.js';
import type { ProbeRoutes, RouteResult } from '../src/monitoring/probe-routes.js';
import type { TaskQueues } from '../src/tasks/task-queues.js';
import type { WorkflowStatusReader } from '../src/workflows/workflow-status.js';
import { DashboardAuth, type DashboardCredentials } from './dashboard-auth.js';
import { queueBoard } from './queue-board.js';
import { WorkflowRoutes } from './workflow-routes.js';

export const QUEUES_PATH = '/admin/queues';
export const WORKFLOWS_PATH = '/admin/workflows';
const STATIC_DIR = join(PROJECT_ROOT, 'dashboard', 'static');

export interface DashboardOptions {
  queues: TaskQueues;
  workflows: WorkflowStatusReader;
  credentials: DashboardCredentials;
}

export interface OperatorAppOptions {
  probes: ProbeRoutes;
  /** Bull Board and the workflow pages; left out, only the probe routes are served. */
  dashboard?: DashboardOptions;
}

export function send(res: Response, r: RouteResult): void {
  res.status(r.status).type(r.contentType).send(r.body);
}

export function createOperatorApp(opts: OperatorAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', async (_req, res) => send(res, await opts.probes.metrics()));
  app.get('/health', (_req, res) => send(res, opts.probes.health()));
  app.get('/ready', async (_req, res) => send(res, await opts.probes.ready()));
  if (opts.dashboard) mountDashboard(app, opts.dashboard);
  return app;
}

function mountDashboard(app: Express, d: DashboardOptions): void {
  const auth = new DashboardAuth({ credentials: d.credentials });
  const workflows = new WorkflowRoutes({ status: d.workflows });
  app.use('/admin', auth.middleware);
  // Bull Board's API is where a retry, clean, promote or add lands: guard it by method.
  app.use(`${QUEUES_PATH}/api`, auth.readOnlyGuard);
  app.use(QUEUES_PATH, queueBoard({ queues: d.queues.all(), readOnlyQueues: [d.queues.scheduleTicks], basePath: QUEUES_PATH }));
  app.use(`${WORKFLOWS_PATH}/static`, express.static(STATIC_DIR, { index: false, fallthrough: false }));
  app.get(`${WORKFLOWS_PATH}/api/runs/:runId`, async (req, res) => send(res, await workflows.run(req.params.runId)));
  app.get(`${WORKFLOWS_PATH}/:runId`, (_req, res) => res.sendFile(join(STATIC_DIR, 'workflow.html')));
  app.get('/admin', (_req, res) => res.redirect(QUEUES_PATH));
}
