/**
 * The HTTP server of the operator surface: the cluster metrics on `registry`, the probe routes
 * and, when asked, the dashboard, on http.addr (HTTPS with http.tls). The orchestrator and the
 * dashboard on its own both serve it.
 *
 * With the dashboard on and no users or tokens configured, the generated admin token
 * (generated-token.ts) is the credential: the start that makes it logs the login URL (the one
 * time the token is ever written anywhere but its file), and every start logs where the file is.
 */
import { readFileSync } from 'node:fs';
import type { RedisClient } from '../src/redis/redis-client.js';
import type { Registry } from 'prom-client';
import { ConfigError, type Config } from '../src/config/config.js';
import { HttpListener } from '../src/http/http-listener.js';
import { isLoopback, splitHostPort } from '../src/config/listen-address.js';
import type { Logger } from '../src/logging/logger.js';
import { ClusterMetrics } from '../src/monitoring/cluster-metrics.js';
import { ProbeRoutes } from '../src/monitoring/probe-routes.js';
import type { ReadServices } from '../src/read-services.js';
import { TaskEventHistoryReader } from '../src/feeds/task-event-history.js';
import { TaskCanceller } from '../src/tasks/task-canceller.js';
import { TaskDetailsReader } from '../src/tasks/task-details.js';
import { TaskLister } from '../src/tasks/task-list.js';
import { TaskRetrier } from '../src/tasks/task-retry.js';
import type { TaskQueues } from '../src/tasks/task-queues.js';
import { ReplicaWait } from '../src/redis/replica-wait.js';
import type { DashboardOptions } from './operator-app.js';
import type { DashboardCredentials } from './dashboard-auth.js';
import { loadOrCreateDashboardToken, type GeneratedToken } from './generated-token.js';
import { createOperatorApp } from './operator-app.js';
import { BoardRetry } from './board-retry.js';

export interface OperatorHttpOptions {
  config: Config;
  /** Our own connection: /ready PINGs on it. */
  redis: RedisClient;
  registry: Registry;
  services: ReadServices;
  /** Serve Bull Board and the workflow pages. */
  dashboard: boolean;
  /** Where the dashboard's actions write, and their acknowledgement; left out: on `redis` and the read queues, without WAIT. */
  writes?: DashboardWrites;
  logger: Logger;
}

/**
 * The connections the dashboard's actions (cancel, retry, drain, resume) write on and the WAIT
 * that confirms them, as the gRPC front end's (src/redis/write-connections.ts): with
 * redis.waitReplicas set, an action answers once its writes reached that many replicas, or 503.
 */
export interface DashboardWrites {
  redis: RedisClient;
  queues: TaskQueues;
  replicas: ReplicaWait;
}

/** How to reach the dashboard, once the server is up. */
export interface DashboardLogin {
  /** e.g. http://127.0.0.1:9097/admin/ */
  url: string;
  /** With a generated token: its file, and whether this start made it. */
  generated?: { tokenFile: string; created: boolean; loginUrl: string };
}

function readPem(key: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(`config key ${key}: ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
}

export class OperatorHttp extends HttpListener {
  private readonly log: Logger;
  private readonly generated?: GeneratedToken;

  constructor(private readonly o: OperatorHttpOptions) {
    const { config, redis, registry, services, dashboard } = o;
    const writes = o.writes ?? { redis, queues: services.queues, replicas: ReplicaWait.off };
    const { tls, dashboard: d } = config.http;
    let credentials: DashboardCredentials = d;
    let generated: GeneratedToken | undefined;
    if (dashboard && d.users.length === 0 && d.tokens.length === 0) {
      generated = loadOrCreateDashboardToken(d.generatedTokenFile);
      credentials = { users: [], tokens: [{ token: generated.token, role: 'admin' }] };
    }
    new ClusterMetrics({ registry, system: services.system });
    super({
      addr: config.http.addr,
      tls: tls.certFile ? { cert: readPem('http.tls.certFile', tls.certFile), key: readPem('http.tls.keyFile', tls.keyFile) } : undefined,
      handler: createOperatorApp({
        probes: new ProbeRoutes({ registry, ping: () => redis.ping() }),
        log: o.logger.child({ component: 'dashboard' }),
        dashboard: dashboard
          ? {
              queues: services.queues,
              workflows: services.workflowStatus,
              ...dashboardActions(config, redis, services, writes),
              credentials,
              publicNames: config.http.publicNames,
              scheme: tls.certFile ? 'https' : 'http',
              secretPayloadKeys: d.secretPayloadKeys,
              sessionMaxAgeMs: d.sessionMaxAgeMs,
              loginThrottle: d.loginThrottle,
              poolsAndRuns: { pools: services.pools, runList: services.runList, replicas: writes.replicas },
            }
          : undefined,
      }),
    });
    this.generated = generated;
    this.log = o.logger.child({ component: 'operator-http' });
  }

  /** Where the dashboard is (after start); undefined when it is not served. */
  get dashboardLogin(): DashboardLogin | undefined {
    if (!this.o.dashboard) return undefined;
    const { host } = splitHostPort(this.o.config.http.addr);
    // A wildcard bind is reachable on loopback; that is the URL to print on this host.
    const shown = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
    const url = `${this.scheme}://${shown}:${this.port}/admin/`;
    const g = this.generated;
    return { url, generated: g && { tokenFile: g.file, created: g.created, loginUrl: `${url}?token=${g.token}` } };
  }

  override async start(): Promise<void> {
    await super.start();
    const { config } = this.o;
    if (config.http.allowUnauthenticated) {
      this.log.warn(
        { http: this.address, loopback: isLoopback(splitHostPort(config.http.addr).host) },
        'http.allowUnauthenticated = true: /metrics, /health and /ready are served without credentials to whoever reaches http.addr; use it on a trusted network only',
      );
    }
    const login = this.dashboardLogin;
    if (login?.generated?.created) {
      this.log.info(
        { tokenFile: login.generated.tokenFile },
        `dashboard admin token generated; log in once at ${login.generated.loginUrl} (the token is kept in the file; configure http.dashboard.users or tokens to replace it)`,
      );
    } else if (login?.generated) {
      this.log.info({ tokenFile: login.generated.tokenFile }, `dashboard at ${login.url}: log in once with ?token=<the token in ${login.generated.tokenFile}>`);
    }
  }
}

/**
 * The readers and actions behind the landing and task pages (dashboard/task-routes.ts), and Bull
 * Board's Retry buttons, answered as RetryTasks answers orchctl (board-retry.ts): one retrier.
 */
function dashboardActions(config: Config, redis: RedisClient, services: ReadServices, writes: DashboardWrites): Pick<DashboardOptions, 'tasks' | 'retry'> {
  const { keys, queues, status, system } = services;
  const { eventsMaxLen, resultsMaxLen } = config.streams;
  const { replicas } = writes;
  const retrier = new TaskRetrier({
    redis: writes.redis,
    keys,
    queues: writes.queues,
    status,
    lister: new TaskLister({ redis, keys, queues }),
    eventsMaxLen,
  });
  return {
    tasks: {
      system,
      status,
      // A spec's JSON: the payload (at most grpc.maxPayloadBytes of keys and values) with its escapes and the executor spec.
      details: new TaskDetailsReader({
        queues,
        status,
        history: new TaskEventHistoryReader({ redis, eventsKeyOf: (c, id) => keys.eventsOf(c, keys.partitionOf(c, id)) }),
        classes: config.classes,
        maxSpecChars: 4 * config.grpc.maxPayloadBytes,
      }),
      canceller: new TaskCanceller({ redis: writes.redis, keys, queues: writes.queues, status, eventsMaxLen, resultsMaxLen }),
      retrier,
      replicas,
      logs: services.logs,
    },
    retry: new BoardRetry({ retrier, classes: new Set(config.classes.keys()), replicas }),
  };
}

/** The operator HTTP server (kept as a function for the callers that build one). */
export function createOperatorHttp(opts: OperatorHttpOptions): OperatorHttp {
  return new OperatorHttp(opts);
}
