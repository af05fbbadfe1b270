/**
 * gRPC's standard health service (grpc.health.v1.Health: Check, Watch, List), on our generated
 * code of proto/grpc/health/v1/health.proto, so that grpc_health_probe, Kubernetes' gRPC probes
 * and grpcurl work unconfigured. Behaves as the protocol says:
 * - Check answers a known service's status, NOT_FOUND for an unknown one ("" is the server);
 * - Watch sends the current status at once (SERVICE_UNKNOWN for an unknown service, without
 *   ending the call), then each change, until the caller goes;
 * - List answers every service's status, RESOURCE_EXHAUSTED past LIST_LIMIT services.
 */
import { status as grpcStatus, type Server, type ServerWritableStream } from '@grpc/grpc-js';
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthService as HealthServiceDefinition,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
} from '../gen/grpc/health/v1/health.js';

export { ServingStatus };

/** Most services List answers; past it, RESOURCE_EXHAUSTED (as the protocol allows). */
const LIST_LIMIT = 100;

export class HealthService {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<ServerWritableStream<HealthCheckRequest, HealthCheckResponse>>>();

  /** `initial`: service name ("" for the server as a whole) -> its status. */
  constructor(initial: Record<string, ServingStatus> = {}) {
    for (const [service, s] of Object.entries(initial)) this.statuses.set(service, s);
  }

  /** Sets a service's status, sent to each of its watchers. */
  setStatus(service: string, s: ServingStatus): void {
    this.statuses.set(service, s);
    for (const call of this.watchers.get(service) ?? []) call.write({ status: s });
  }

  addToServer(server: Server): void {
    const handlers: HealthServer = {
      check: (call, callback) => {
        const s = this.statuses.get(call.request.service);
        if (s === undefined) callback({ code: grpcStatus.NOT_FOUND, details: `health status unknown for service "${call.request.service}"` });
        else callback(null, { status: s });
      },
      watch: (call) => {
        const { service } = call.request;
        let calls = this.watchers.get(service);
        if (!calls) this.watchers.set(service, (calls = new Set()));
        calls.add(call);
        const forget = () => {
          calls.delete(call);
          if (calls.size === 0 && this.watchers.get(service) === calls) this.watchers.delete(service);
        };
        call.on('cancelled', forget);
        call.on('close', forget);
        call.write({ status: this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN });
      },
      list: (_call, callback) => {
        if (this.statuses.size > LIST_LIMIT) {
          callback({ code: grpcStatus.RESOURCE_EXHAUSTED, details: `more than ${LIST_LIMIT} services to list` });
          return;
        }
        callback(null, { statuses: Object.fromEntries([...this.statuses].map(([service, status]) => [service, { status }])) });
      },
    };
    server.addService(HealthServiceDefinition, handlers);
  }
}
