/**
 * The orchestrator's gRPC server: OrchestratorService on a GrpcHost (grpc-host.ts: health,
 * reflection, limits, tokens, TLS, start and close).
 */
import { OrchestratorServiceService } from '../gen/orchestrator/v1/orchestrator.js';
import { GrpcHost, type GrpcHostOptions } from './grpc-host.js';
import { orchestratorHandlers, type OrchestratorServices } from './orchestrator-service.js';

export const SERVICE_NAME = 'orchestrator.v1.OrchestratorService';

export interface GrpcServerOptions extends Omit<GrpcHostOptions, 'service'> {
  services: OrchestratorServices;
}

export class GrpcServer extends GrpcHost {
  constructor({ services, ...opts }: GrpcServerOptions) {
    super({
      ...opts,
      service: {
        name: SERVICE_NAME,
        protoFile: 'orchestrator/v1/orchestrator.proto',
        definition: OrchestratorServiceService,
        handlers: orchestratorHandlers(services),
      },
    });
  }
}
