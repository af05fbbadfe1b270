/**
 * gRPC handlers of envmanager.v1.EnvManagerService and the server that carries them. Each
 * handler maps the request to one EnvManager call.
 */
import type { UntypedHandleCall } from '@grpc/grpc-js';
import { ENV_MANAGER_ROLES } from '../auth/roles.js';
import type { DockerClient } from '../docker/docker-client.js';
import type { EnvManager, ServiceEventRecord, ServiceState as State, ServiceStatusView } from '../env-manager/env-manager.js';
import * as pb from '../gen/envmanager/v1/envmanager.js';
import type { Logger } from '../logging/logger.js';
import { invalidArgument } from '../errors/errors.js';
import { VERSION } from '../version.js';
import { GrpcHost, type GrpcHostOptions } from './grpc-host.js';
import { ENV_MANAGER_PATH_ROLES } from './method-roles.js';
import { serverStream, unary } from './orchestrator-service.js';

export const ENV_MANAGER_SERVICE = 'envmanager.v1.EnvManagerService';

const STATE: Record<State, pb.ServiceState> = {
  absent: pb.ServiceState.SERVICE_STATE_ABSENT,
  starting: pb.ServiceState.SERVICE_STATE_STARTING,
  healthy: pb.ServiceState.SERVICE_STATE_HEALTHY,
  unhealthy: pb.ServiceState.SERVICE_STATE_UNHEALTHY,
  exited: pb.ServiceState.SERVICE_STATE_EXITED,
};

const toPb = (v: ServiceStatusView): pb.ServiceStatus => ({ ...v, state: STATE[v.state] });

/** Events of the named services from now on, as an async iterable that ends on abort. */
async function* eventsOf(manager: EnvManager, names: string[], signal: AbortSignal): AsyncGenerator<{ cursor: string; item: ServiceEventRecord }> {
  const want = new Set(names);
  const queue: ServiceEventRecord[] = [];
  let wake: (() => void) | undefined;
  const unsubscribe = manager.subscribe((e) => {
    if (want.size && !want.has(e.service)) return;
    queue.push(e);
    wake?.();
  });
  const onAbort = () => wake?.();
  signal.addEventListener('abort', onAbort);
  try {
    while (!signal.aborted) {
      if (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      while (queue.length) yield { cursor: '', item: queue.shift()! };
    }
  } finally {
    unsubscribe();
    signal.removeEventListener('abort', onAbort);
  }
}

export function envManagerHandlers(manager: EnvManager, docker: DockerClient, startedAtMs: number, logger: Logger): Record<string, UntypedHandleCall> {
  const log = logger.child({ component: 'grpc' });
  const known = (names: string[]) => {
    for (const n of names) if (!manager.services.some((s) => s.name === n)) throw invalidArgument('names', `no service "${n}"`);
    return names;
  };
  const handlers = {
    listServices: unary<pb.ListServicesRequest, pb.ListServicesResponse>(async () => ({ services: (await manager.list()).map(toPb) })),
    getServiceStatus: unary<pb.GetServiceStatusRequest, pb.ServiceStatus>(async (req) => {
      if (!req.name) throw invalidArgument('name', 'is required');
      return toPb(await manager.status(req.name));
    }),
    startServices: unary<pb.StartServicesRequest, pb.StartServicesResponse>(async (req) => ({ services: (await manager.up(known(req.names))).map(toPb) })),
    stopServices: unary<pb.StopServicesRequest, pb.StopServicesResponse>(async (req) => ({ services: (await manager.down(known(req.names))).map(toPb) })),
    restartService: unary<pb.RestartServiceRequest, pb.ServiceStatus>(async (req) => {
      if (!req.name) throw invalidArgument('name', 'is required');
      return toPb(await manager.restartService(req.name));
    }),
    getServiceLogs: unary<pb.GetServiceLogsRequest, pb.GetServiceLogsResponse>(async (req) => {
      if (!req.name) throw invalidArgument('name', 'is required');
      if (req.tail < 0) throw invalidArgument('tail', 'must not be negative');
      return { name: req.name, text: await manager.logs(req.name, req.tail || 100) };
    }),
    streamServiceEvents: serverStream(
      log,
      undefined,
      (req: pb.StreamServiceEventsRequest, ctx) => eventsOf(manager, known(req.names), ctx.signal),
      (_cursor, e: ServiceEventRecord): pb.ServiceEvent => e,
    ),
    health: unary<pb.HealthRequest, pb.HealthResponse>(async () => {
      const services = await manager.list();
      return {
        dockerReachable: await docker.ping(),
        services: services.length,
        healthy: services.filter((s) => s.state === 'healthy').length,
        version: VERSION,
        uptimeMs: Date.now() - startedAtMs,
      };
    }),
  } satisfies Record<keyof pb.EnvManagerServiceServer, unknown>;
  return handlers as unknown as Record<string, UntypedHandleCall>;
}

export interface EnvManagerServerOptions extends Omit<GrpcHostOptions, 'service'> {
  manager: EnvManager;
  docker: DockerClient;
  logger: Logger;
}

/** The env-manager's gRPC server: EnvManagerService on a GrpcHost (health, reflection, limits, tokens with roles read and control, TLS). */
export class EnvManagerServer extends GrpcHost {
  constructor({ manager, docker, logger, ...opts }: EnvManagerServerOptions) {
    super({
      ...opts,
      service: {
        name: ENV_MANAGER_SERVICE,
        protoFile: 'envmanager/v1/envmanager.proto',
        definition: pb.EnvManagerServiceService,
        handlers: envManagerHandlers(manager, docker, Date.now(), logger),
        policy: { ladder: ENV_MANAGER_ROLES, roles: ENV_MANAGER_PATH_ROLES },
      },
    });
  }
}
