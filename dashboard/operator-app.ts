/**
 * The orchestrator's HTTP app (Express): /metrics, /health and /ready for Prometheus and probes,
 * open; and, behind DashboardAuth, the landing page at /admin/ (and / redirecting there), the
 * task page at /admin/tasks/<task_id>, Bull Board at /admin/queues and the workflow run page at
 * /admin/workflows/<run_id>. Routes only map a request onto a plain route function and its
 * {status, body} back.
 *
 * Every response carries the security headers (security-headers.ts). Everything under /admin
 * first passes the Host check (host-check.ts), then DashboardAuth. The probe routes skip the Host
 * check on purpose: they are read-only, need no credentials (so a rebinding page gains nothing a
 * network peer does not already have), and Prometheus scrapes them by whatever name its service
 * discovery uses.
 */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/paths.js';
import type { ProbeRoutes, RouteResult } from '../src/monitoring/probe-routes.js';
import type { TaskQueues } from '../src/tasks/task-queues.js';
import type { WorkflowStatusReader } from '../src/workflows/workflow-status.js';
import type { Logger } from '../src/logging/logger.js';
import { boardCancelled } from './board-cancelled.js';
import { boardPageSize } from './board-page-size.js';
import { DashboardAuth, roleOf, type DashboardCredentials } from './dashboard-auth.js';
import { errorHandler } from './error-handler.js';
import { hostGuard } from './host-check.js';
import { LoginThrottle } from './login-throttle.js';
import { queueBoard } from './queue-board.js';
import { redactBoardApi, secretKeyTest } from './redaction.js';
import { securityHeaders } from './security-headers.js';
import { TaskRoutes, type TaskRoutesOptions } from './task-routes.js';
import { WorkflowRoutes } from './workflow-routes.js';
import type { BoardRetry } from './board-retry.js';
import { PoolRunRoutes, type PoolRunRoutesOptions } from './pool-run-routes.js';

export const QUEUES_PATH = '/admin/queues';
export const WORKFLOWS_PATH = '/admin/workflows';
export const TASKS_PATH = '/admin/tasks';
export const API_PATH = '/admin/api';
export const POOLS_PATH = '/admin/pools';
const STATIC_DIR = join(PROJECT_ROOT, 'dashboard', 'static');

export interface DashboardOptions {
  queues: TaskQueues;
  workflows: WorkflowStatusReader;
  /** What the landing and task pages read and do (task-routes.ts). */
  tasks: Pick<TaskRoutesOptions, 'system' | 'status' | 'details' | 'canceller' | 'retrier' | 'replicas' | 'logs'>;
  /** Bull Board's Retry buttons, answered as RetryTasks answers orchctl (board-retry.ts). */
  retry?: BoardRetry;
  /** Configured users and tokens, or the generated admin token: never empty. */
  credentials: DashboardCredentials;
  /** http.publicNames: Host names answered besides loopback and IP addresses. */
  publicNames: readonly string[];
  /** How the server is reached (https with http.tls). */
  scheme: 'http' | 'https';
  /** http.dashboard.secretPayloadKeys. */
  secretPayloadKeys: readonly string[];
  /** http.dashboard.sessionMaxAgeMs. */
  sessionMaxAgeMs: number;
  /** http.dashboard.loginThrottle. */
  loginThrottle: { maxFailures: number; windowMs: number };
  /** The pools page and the workflow runs list. */
  poolsAndRuns: PoolRunRoutesOptions;
}

export interface OperatorAppOptions {
  probes: ProbeRoutes;
  /** Bull Board and the workflow pages; left out, only the probe routes are served. */
  dashboard?: DashboardOptions;
  /** Where a request's unexpected error is logged (error-handler.ts). */
  log?: Logger;
}

export function send(res: Response, r: RouteResult): void {
  res.status(r.status).type(r.contentType).send(r.body);
}

export function createOperatorApp(opts: OperatorAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(securityHeaders);
  app.get('/metrics', async (_req, res) => send(res, await opts.probes.metrics()));
  app.get('/health', (_req, res) => send(res, opts.probes.health()));
  app.get('/ready', async (_req, res) => send(res, await opts.probes.ready()));
  if (opts.dashboard) mountDashboard(app, opts.dashboard);
  app.use(errorHandler(opts.log));
  return app;
}

function mountDashboard(app: Express, d: DashboardOptions): void {
  const auth = new DashboardAuth({
    credentials: d.credentials,
    throttle: new LoginThrottle(d.loginThrottle),
    scheme: d.scheme,
    publicNames: d.publicNames,
    sessionMaxAgeMs: d.sessionMaxAgeMs,
  });
  const isSecret = secretKeyTest(d.secretPayloadKeys);
  const workflows = new WorkflowRoutes({ status: d.workflows, isSecret });
  app.use('/admin', hostGuard(d.publicNames), auth.middleware);
  // Bull Board's API is where a retry, clean, promote or add lands: guard it by method; and it is
  // where job data leaves, so a read-only caller's answers are redacted there, and a cancelled
  // job's error reads as its cancel (board-cancelled.ts); a page of jobs is bounded (board-page-size.ts).
  app.use(`${QUEUES_PATH}/api`, auth.readOnlyGuard, boardPageSize, redactBoardApi(isSecret), boardCancelled);
  const retry = d.retry;
  if (retry) {
    // Ahead of Bull Board's own routes, past the admin guard above: a cancelled task is refused
    // there as RetryTasks refuses it (409), one job or the whole failed list (which skips it).
    app.put(`${QUEUES_PATH}/api/queues/:queueName/retry/:queueStatus`, async (req, res, next) =>
      retry.handles(req.params.queueName) ? send(res, await retry.retryAll(req.params.queueName, req.params.queueStatus)) : next(),
    );
    app.put(`${QUEUES_PATH}/api/queues/:queueName/:jobId/retry`, async (req, res, next) =>
      retry.handles(req.params.queueName) ? send(res, await retry.retryOne(req.params.jobId)) : next(),
    );
  }
  app.use(QUEUES_PATH, queueBoard({ queues: d.queues.each(), readOnlyQueues: [d.queues.scheduleTicks], basePath: QUEUES_PATH }));
  app.use(`${WORKFLOWS_PATH}/static`, express.static(STATIC_DIR, { index: false, fallthrough: false }));
  mountPoolsAndRuns(app, new PoolRunRoutes(d.poolsAndRuns));
  app.get(`${WORKFLOWS_PATH}/api/runs/:runId`, async (req, res) => send(res, await workflows.run(req.params.runId, roleOf(res))));
  app.get(`${WORKFLOWS_PATH}/:runId`, (_req, res) => res.sendFile(join(STATIC_DIR, 'workflow.html')));
  mountPages(app, new TaskRoutes({ ...d.tasks, workflows: d.workflows, isSecret, queuesPath: QUEUES_PATH }), auth);
}

/**
 * The landing page, the task page and their API. `/` only redirects to /admin/, where
 * DashboardAuth answers an unauthenticated caller with its challenge: the probe port's root
 * shows nothing without credentials. The API's POSTs pass DashboardAuth's origin check (a
 * request from another site is refused) and readOnlyGuard (403 for the read_only role).
 */
function mountPages(app: Express, tasks: TaskRoutes, auth: DashboardAuth): void {
  const page = (file: string) => (_req: unknown, res: Response) => res.sendFile(join(STATIC_DIR, file));
  app.get('/', (_req, res) => res.redirect('/admin/'));
  app.use('/admin/static', express.static(STATIC_DIR, { index: false, fallthrough: false }));
  app.get(['/admin', '/admin/'], page('index.html'));
  app.get(`${TASKS_PATH}/:taskId`, page('task.html'));
  app.use(API_PATH, auth.readOnlyGuard);
  app.get(`${API_PATH}/overview`, async (_req, res) => send(res, await tasks.overview(roleOf(res))));
  app.get(`${API_PATH}/search`, async (req, res) => send(res, await tasks.search(typeof req.query.q === 'string' ? req.query.q : '')));
  app.get(`${API_PATH}/tasks/:taskId`, async (req, res) => send(res, await tasks.task(req.params.taskId, roleOf(res))));
  app.get(`${API_PATH}/tasks/:taskId/logs`, async (req, res) =>
    send(res, await tasks.logs(req.params.taskId, typeof req.query.attempt === 'string' ? req.query.attempt : '')),
  );
  app.post(`${API_PATH}/tasks/:taskId/cancel`, async (req, res) => send(res, await tasks.cancel(req.params.taskId, roleOf(res))));
  app.post(`${API_PATH}/tasks/:taskId/retry`, async (req, res) => send(res, await tasks.retry(req.params.taskId, roleOf(res))));
}

/**
 * The pools page (/admin/pools) and the runs list (/admin/workflows), with their JSON under
 * /admin/api/. Viewers read; a drain or resume is a POST, admins only (readOnlyGuard, and the route checks
 * the role again), and has passed DashboardAuth's origin check like every changing request.
 * The pages load their scripts from the static folder relatively (workflows/static/...), so
 * their own paths are served without a trailing slash.
 */
function mountPoolsAndRuns(app: Express, routes: PoolRunRoutes): void {
  app.get('/admin/api/pools', async (_req, res) => send(res, await routes.pools(roleOf(res))));
  for (const action of ['drain', 'resume'] as const) {
    const path = `/admin/api/pools/${action}`;
    app.post(path, (_req, res, next) => {
      // Refused before the body is even read.
      if (roleOf(res) !== 'admin')
        return send(res, { status: 403, contentType: 'application/json', body: `{"error":"forbidden: to ${action} a pool takes the admin role"}` });
      next();
    });
    app.post(path, express.json({ limit: '4kb' }), async (req, res) => send(res, await routes[action](req.body, roleOf(res))));
    // A body that is not JSON, or too large: a plain answer, never Express's page with a stack.
    app.use(path, (err: { status?: number }, _req: Request, res: Response, next: NextFunction) => {
      if (res.headersSent) return next(err);
      res.status(err.status === 413 ? 413 : 400).json({ error: 'body: expected JSON {"poolId": "..."} of at most 4 KiB' });
    });
  }
  app.get('/admin/api/workflow-runs', async (req, res) => send(res, await routes.runs(req.query as Record<string, unknown>)));
  const page = (file: string, path: string) =>
    app.get(path, (req, res) => (req.path.endsWith('/') ? res.redirect(301, path) : res.sendFile(join(STATIC_DIR, file))));
  page('pools.html', POOLS_PATH);
  page('runs.html', WORKFLOWS_PATH);
}
