/**
 * The gRPC server: OrchestratorService plus the standard grpc.health.v1.Health service and
 * server reflection, so generic tools (grpcurl, grpc_health_probe) work unconfigured.
 */
import { Server, ServerCredentials, type ServerInterceptor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { OrchestratorServiceService } from '../gen/orchestrator/v1/orchestrator.js';
import { PROTO_DIR } from '../paths.js';
import { orchestratorHandlers, type OrchestratorServices } from './orchestrator-service.js';

export const SERVICE_NAME = 'orchestrator.v1.OrchestratorService';

export interface GrpcServerOptions {
  /** host:port; port 0 picks a free one. */
  addr: string;
  maxMessageBytes: number;
  services: OrchestratorServices;
  /** Transport credentials (server-credentials.ts). @default plain TCP */
  credentials?: ServerCredentials;
  /** Server interceptors, innermost first (metrics, then auth: see grpc-metrics.ts). */
  interceptors?: ServerInterceptor[];
}

export class GrpcServer {
  private readonly server: Server;
  readonly health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING' });
  private boundPort = 0;

  constructor(private readonly opts: GrpcServerOptions) {
    this.server = new Server({
      'grpc.max_receive_message_length': opts.maxMessageBytes,
      'grpc.max_send_message_length': opts.maxMessageBytes,
      'grpc.keepalive_permit_without_calls': 1,
      interceptors: opts.interceptors ?? [],
    });
    this.server.addService(OrchestratorServiceService, orchestratorHandlers(opts.services));
    this.health.addToServer(this.server);
    const definitions = loadSync(['orchestrator/v1/orchestrator.proto', healthProtoPath], { includeDirs: [PROTO_DIR] });
    new ReflectionService(definitions).addToServer(this.server);
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const { addr } = this.opts;
    this.boundPort = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(addr, this.opts.credentials ?? ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.health.setStatus('', 'SERVING');
    this.health.setStatus(SERVICE_NAME, 'SERVING');
  }

  /** Stop accepting calls, let running ones end for `graceMs`, then cut the rest. */
  async close(graceMs: number): Promise<void> {
    this.health.setStatus('', 'NOT_SERVING');
    this.health.setStatus(SERVICE_NAME, 'NOT_SERVING');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
