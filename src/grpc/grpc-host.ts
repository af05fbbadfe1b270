/**
 * One gRPC service on a listening server, with what every Orchestrator gRPC server has: the
 * standard grpc.health.v1.Health service and server reflection (so grpcurl and
 * grpc_health_probe work unconfigured), message size limits, bearer tokens with roles and
 * TLS (grpc-security.ts), and start() / close(grace) with a force budget. The orchestrator's and the
 * env-manager's servers are both one of these.
 */
import { Server, ServerCredentials, type ServerInterceptor, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { HEALTH_PROTO, PROTO_DIR } from '../paths.js';
import { HealthService, ServingStatus } from './health-service.js';
import type { CallPolicy } from './auth-interceptor.js';
import type { GrpcSecurity } from './grpc-security.js';
import type { InFlightBytes } from './in-flight-bytes.js';
import { tolerantService } from './request-decoding.js';
import { LazyReflection } from './lazy-reflection.js';
import { CHANNELZ_OFF } from '../client/channelz.js';

export interface GrpcServiceSpec {
  /** Full name, as the health service and reflection know it, e.g. "orchestrator.v1.OrchestratorService". */
  name: string;
  /** Its proto file under proto/, for reflection. */
  protoFile: string;
  definition: ServiceDefinition;
  handlers: UntypedServiceImplementation;
  /** What each token role may call (method-roles.ts). */
  policy: CallPolicy;
}

export interface GrpcHostOptions {
  /** host:port; port 0 picks a free one. */
  addr: string;
  /** Largest message received or sent. */
  maxMessageBytes: number;
  /** The cap on bytes of unary requests worked on at once (in-flight-bytes.ts). @default no cap */
  inFlight?: InFlightBytes;
  service: GrpcServiceSpec;
  /** Credentials and the auth interceptor. @default plain TCP, no tokens */
  security?: GrpcSecurity;
  /** Interceptors that run inside the auth one, innermost first (metrics: see grpc-metrics.ts). */
  interceptors?: ServerInterceptor[];
}

export class GrpcHost {
  private readonly server: Server;
  readonly health: HealthService;
  private boundPort = 0;

  constructor(private readonly opts: GrpcHostOptions) {
    const { service } = opts;
    const { inFlight } = opts;
    this.server = new Server({
      ...CHANNELZ_OFF,
      'grpc.max_receive_message_length': opts.maxMessageBytes,
      'grpc.max_send_message_length': opts.maxMessageBytes,
      'grpc.keepalive_permit_without_calls': 1,
      // The in-flight cap outermost: it sees only calls auth let through, and its refusals pass the inner (metrics) ones.
      interceptors: [...(opts.interceptors ?? []), ...(opts.security?.interceptors(service.policy) ?? []), ...(inFlight ? [inFlight.interceptor] : [])],
    });
    const tolerant = tolerantService(service.definition, service.handlers, service.name, service.protoFile);
    this.server.addService(inFlight ? inFlight.wrap(tolerant.definition) : tolerant.definition, tolerant.handlers);
    this.health = new HealthService({ '': ServingStatus.NOT_SERVING, [service.name]: ServingStatus.NOT_SERVING });
    this.health.addToServer(this.server);
    new LazyReflection([service.protoFile, HEALTH_PROTO], [PROTO_DIR]).addToServer(this.server);
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const credentials = this.opts.security?.credentials ?? ServerCredentials.createInsecure();
    this.boundPort = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(this.opts.addr, credentials, (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.setServing(ServingStatus.SERVING);
  }

  /** Stop accepting calls, let running ones end for `graceMs`, then cut the rest. */
  async close(graceMs: number): Promise<void> {
    this.setServing(ServingStatus.NOT_SERVING);
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

  private setServing(state: ServingStatus): void {
    this.health.setStatus('', state);
    this.health.setStatus(this.opts.service.name, state);
  }
}
