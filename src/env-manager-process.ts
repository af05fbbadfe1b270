/**
 * The env-manager process's core: an EnvManager over one service file, behind its gRPC server
 * (EnvManagerService with the same health, reflection, limits, tokens and TLS as the
 * orchestrator's, from envManager.*) and its HTTP listener (/metrics, /health, /ready, the
 * routes every Orchestrator process serves). start() and close() bring it up and down.
 */
import type { Config } from './config/config.js';
import type { DockerClient } from './docker/docker-client.js';
import { EnvManager } from './env-manager/env-manager.js';
import type { ServiceFile } from './env-manager/service-file.js';
import { EnvManagerServer } from './grpc/env-manager-service.js';
import { ENV_MANAGER_ROLES } from './auth/roles.js';
import { grpcSecurity } from './grpc/grpc-security.js';
import { HttpListener } from './http/http-listener.js';
import { isLoopback, splitHostPort } from './config/listen-address.js';
import { probeHandler } from './http/probe-handler.js';
import type { Logger } from './logging/logger.js';
import { EnvMetrics } from './monitoring/env-metrics.js';
import { GrpcMetrics } from './monitoring/grpc-metrics.js';
import { createMetricsRegistry } from './monitoring/metrics-registry.js';
import { ProbeRoutes } from './monitoring/probe-routes.js';

export interface EnvManagerProcessOptions {
  config: Config;
  file: ServiceFile;
  docker: DockerClient;
  logger: Logger;
  /** Cap of the backoff between restarts and start-up checks (EnvManagerOptions). @default 30000 */
  maxBackoffMs?: number;
}

export class EnvManagerProcess {
  readonly manager: EnvManager;
  private readonly log: Logger;
  private grpc?: EnvManagerServer;
  private http?: HttpListener;
  private metrics?: EnvMetrics;

  constructor(private readonly opts: EnvManagerProcessOptions) {
    this.log = opts.logger.child({ component: 'env-manager-process' });
    this.manager = new EnvManager({ docker: opts.docker, file: opts.file, logger: opts.logger, maxBackoffMs: opts.maxBackoffMs });
  }

  /** The bound gRPC port (after start). */
  get grpcPort(): number {
    return this.grpc?.port ?? 0;
  }

  /** The bound HTTP port of /metrics, /health and /ready (after start). */
  get httpPort(): number {
    return this.http?.port ?? 0;
  }

  async start(): Promise<void> {
    const { config, docker, logger } = this.opts;
    const { envManager } = config;
    // Credentials first: a bad tokens or certificate file stops start-up before anything listens.
    const security = grpcSecurity(
      envManager,
      { section: 'envManager', addrKey: 'envManager.grpcAddr', addr: envManager.grpcAddr, roles: ENV_MANAGER_ROLES },
      logger,
    );
    const registry = createMetricsRegistry();
    this.metrics = new EnvMetrics({ registry, manager: this.manager });
    const probes = new ProbeRoutes({
      registry,
      dependency: 'the Docker engine',
      ping: async () => {
        if (!(await docker.ping())) throw new Error(`the Docker engine on ${config.docker.socketPath} does not answer`);
      },
    });
    this.http = new HttpListener({ addr: envManager.httpAddr, handler: probeHandler(probes) });
    this.grpc = new EnvManagerServer({
      addr: envManager.grpcAddr,
      maxMessageBytes: envManager.maxMessageBytes,
      security,
      // Metrics inside auth, so refused calls are counted too.
      interceptors: [new GrpcMetrics({ registry }).interceptor],
      manager: this.manager,
      docker,
      logger,
    });
    await this.grpc.start();
    await this.http.start();
    if (envManager.httpAllowUnauthenticated && !isLoopback(splitHostPort(envManager.httpAddr).host))
      this.log.warn(
        { addr: envManager.httpAddr },
        'envManager.httpAllowUnauthenticated = true: /metrics, /health and /ready are served without credentials beyond loopback',
      );
    this.log.info(
      {
        grpc: `${envManager.grpcAddr.replace(/:\d+$/, '')}:${this.grpc.port}`,
        http: this.http.port,
        services: this.opts.file.services.length,
        ...security.summary,
      },
      'env-manager serving',
    );
    if (envManager.startOnBoot) {
      this.manager.up().catch((err: unknown) => this.log.error({ err: (err as Error).message }, 'bringing the services up failed'));
    }
  }

  /** Stops serving (calls get `graceMs`), stops watching and, with envManager.stopServicesOnExit, stops the services. */
  async close(graceMs = 2_000): Promise<void> {
    await Promise.all([this.grpc?.close(graceMs), this.http?.close(graceMs)]);
    this.metrics?.close();
    await this.manager.close(this.opts.config.envManager.stopServicesOnExit);
  }
}
