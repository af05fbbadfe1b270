/**
 * The orchestrator's HTTP app (Express): /metrics, /health and /ready for Prometheus and
 * probes. Routes only map a request onto a plain route function (src/monitoring/probe-routes.ts)
 * and its {status, body} back.
 */
import express, { type Express, type Response } from 'express';
import type { ProbeRoutes, RouteResult } from '../src/monitoring/probe-routes.js';

export interface OperatorAppOptions {
  probes: ProbeRoutes;
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
  return app;
}
