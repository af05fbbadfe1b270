/**
 * gRPC requests by service, method and status code, and their latency, as a server
 * interceptor: the handlers stay as they are, and calls refused before a handler runs
 * (UNAUTHENTICATED) count too, as long as this interceptor sits inside the auth one.
 */
import { ResponderBuilder, ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';
import { Counter, Histogram, type Registry } from 'prom-client';

export interface GrpcMetricsOptions {
  registry: Registry;
}

const CODE_NAMES = new Map<number, string>(
  Object.entries(status)
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .map(([k, v]) => [v, k]),
);

export class GrpcMetrics {
  private readonly handled: Counter<'grpc_service' | 'grpc_method' | 'grpc_type' | 'grpc_code'>;
  private readonly latency: Histogram<'grpc_service' | 'grpc_method' | 'grpc_type'>;

  constructor(opts: GrpcMetricsOptions) {
    this.handled = new Counter({
      name: 'orq_grpc_server_handled_total',
      help: 'gRPC calls completed on the server, by service, method, type and status code.',
      labelNames: ['grpc_service', 'grpc_method', 'grpc_type', 'grpc_code'],
      registers: [opts.registry],
    });
    this.latency = new Histogram({
      name: 'orq_grpc_server_handling_seconds',
      help: 'Time from a call arriving to its status being sent (a server stream: its whole life).',
      labelNames: ['grpc_service', 'grpc_method', 'grpc_type'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 300],
      registers: [opts.registry],
    });
  }

  /** Each method's labels, made once (a call makes none). */
  private readonly methods = new Map<string, MethodLabels>();

  private labelsOf(method: Parameters<ServerInterceptor>[0]): MethodLabels {
    let m = this.methods.get(method.path);
    if (!m) {
      const [, service = '', name = ''] = method.path.split('/');
      const type = method.requestStream ? (method.responseStream ? 'bidi_stream' : 'client_stream') : method.responseStream ? 'server_stream' : 'unary';
      m = { labels: { grpc_service: service, grpc_method: name, grpc_type: type }, byCode: new Map() };
      this.methods.set(method.path, m);
    }
    return m;
  }

  private handledLabels(m: MethodLabels, code: number): HandledLabels {
    let labels = m.byCode.get(code);
    if (!labels) m.byCode.set(code, (labels = { ...m.labels, grpc_code: CODE_NAMES.get(code) ?? String(code) }));
    return labels;
  }

  readonly interceptor: ServerInterceptor = (method, call) => {
    const m = this.labelsOf(method);
    let startedAt = 0;
    return new ServerInterceptingCall(
      call,
      new ResponderBuilder()
        .withStart((next) => {
          startedAt = performance.now();
          next();
        })
        .withSendStatus((st, next) => {
          this.handled.inc(this.handledLabels(m, st.code));
          this.latency.observe(m.labels, (performance.now() - startedAt) / 1000);
          next(st);
        })
        .build(),
    );
  };
}

type MethodLabel = 'grpc_service' | 'grpc_method' | 'grpc_type';
type HandledLabels = Record<MethodLabel | 'grpc_code', string>;
interface MethodLabels {
  labels: Record<MethodLabel, string>;
  byCode: Map<number, HandledLabels>;
}
