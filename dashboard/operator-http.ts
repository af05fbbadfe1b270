/**
 * The HTTP server of the operator surface: the cluster metrics on `registry`, the probe routes
 * and, when asked, the dashboard, on http.addr. The orchestrator and the dashboard on its own
 * both serve it.
 */
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { Config } from '../src/config/config.js';
import { HttpListener } from '../src/http/http-listener.js';
import { ClusterMetrics } from '../src/monitoring/cluster-metrics.js';
import { ProbeRoutes } from '../src/monitoring/probe-routes.js';
import type { ReadServices } from '../src/read-services.js';
import { createOperatorApp } from './operator-app.js';

export interface OperatorHttpOptions {
  config: Config;
  /** Our own connection: /ready PINGs on it. */
  redis: Redis;
  registry: Registry;
  services: ReadServices;
  /** Serve Bull Board and the workflow pages. */
  dashboard: boolean;
}

export function createOperatorHttp({ config, redis, registry, services, dashboard }: OperatorHttpOptions): HttpListener {
  new ClusterMetrics({ registry, system: services.system });
  return new HttpListener({
    addr: config.http.addr,
    handler: createOperatorApp({
      probes: new ProbeRoutes({ registry, ping: () => redis.ping() }),
      dashboard: dashboard ? { queues: services.queues, workflows: services.workflowStatus, credentials: config.http.dashboard } : undefined,
    }),
  });
}
