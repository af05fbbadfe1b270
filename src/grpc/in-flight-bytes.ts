/**
 * A cap on the bytes of unary requests a server is working on at once (grpc.maxInFlightBytes).
 *
 * grpc.maxMessageBytes bounds one request, not how many arrive together: a request's handling
 * holds several times its size (decoded messages, jobs, Redis commands), so a few concurrent
 * batches near the message limit took the front end from ~130 MiB to over 1 GiB. A request that
 * would take the total over the cap ends RESOURCE_EXHAUSTED at once, with a retry hint
 * (`retry-after-ms` trailer), before any handler sees it; nothing waits in memory for room. One
 * request is always let in while nothing else is in flight, so a request of any size up to the
 * message limit can pass.
 *
 * The wire size of a request is known only to its deserializer, so the service definition's
 * deserializers are wrapped to note it (a WeakMap keyed by the decoded message), and the
 * interceptor counts it from when the message arrives until the call's status is sent or the
 * call is cancelled.
 *
 * A bidirectional call whose requests are each answered by one response with the same
 * `requestId` (SubmitTaskStream) is counted per request: from its arrival (before the handler
 * reads it, so requests grpc-js holds for the handler count too) until its answer goes out, or
 * the call ends. A request that would go over the cap ends the call RESOURCE_EXHAUSTED with the
 * same hint; its unanswered requests' outcomes are unknown to the client, as for a unary call
 * that fails. Server streams are not counted: their one request is small and they last long.
 */
import {
  Metadata,
  ResponderBuilder,
  ServerInterceptingCall,
  ServerListenerBuilder,
  status,
  type ServerInterceptor,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { Gauge, type Registry } from 'prom-client';

/** What a caller refused for the cap is told to wait before retrying. */
export const IN_FLIGHT_RETRY_AFTER_MS = 1_000;

export class InFlightBytes {
  private used = 0;
  /** Wire size of each decoded request, until the interceptor takes it. */
  private readonly sizes = new WeakMap<object, number>();

  constructor(readonly maxBytes: number) {}

  /** Reports the bytes in flight as `orq_grpc_in_flight_request_bytes` (refusals count in orq_grpc_server_handled_total). */
  register(registry: Registry): void {
    const used = () => this.used;
    new Gauge({
      name: 'orq_grpc_in_flight_request_bytes',
      help: 'Bytes of unary gRPC requests being worked on now (capped by grpc.maxInFlightBytes).',
      registers: [registry],
      collect() {
        this.set(used());
      },
    });
  }

  /** Bytes of requests being worked on now. */
  get inFlight(): number {
    return this.used;
  }

  /** The definition with each unary or bidirectional method's deserializer noting the size of what it decodes. */
  wrap(definition: ServiceDefinition): ServiceDefinition {
    const wrapped: Record<string, ServiceDefinition[string]> = {};
    for (const [name, method] of Object.entries(definition)) {
      if (method.requestStream !== method.responseStream) {
        wrapped[name] = method;
        continue;
      }
      const decode = method.requestDeserialize;
      wrapped[name] = {
        ...method,
        requestDeserialize: (buf: Buffer) => {
          const message: unknown = decode(buf);
          if (typeof message === 'object' && message !== null) this.sizes.set(message, buf.length);
          return message;
        },
      };
    }
    return wrapped as ServiceDefinition;
  }

  /** Counts `bytes` in, or answers false when they would go over the cap. */
  private tryTake(bytes: number): boolean {
    if (this.used > 0 && this.used + bytes > this.maxBytes) return false;
    this.used += bytes;
    return true;
  }

  /** The RESOURCE_EXHAUSTED status of a request of `bytes` that would take the total over the cap. */
  private refusal(bytes: number) {
    const metadata = new Metadata();
    metadata.set('retry-after-ms', String(IN_FLIGHT_RETRY_AFTER_MS));
    return {
      code: status.RESOURCE_EXHAUSTED,
      details:
        `server busy: ${this.used} bytes of requests in flight, and this one's ${bytes} would go over ` +
        `grpc.maxInFlightBytes (${this.maxBytes}); retry in about ${IN_FLIGHT_RETRY_AFTER_MS} ms`,
      metadata,
    };
  }

  private sizeOf(message: unknown): number {
    return (typeof message === 'object' && message !== null && this.sizes.get(message)) || 0;
  }

  /**
   * Counts each request of a call from its arrival: a unary call's until its status is sent or it
   * is cancelled; with `perAnswer` (a bidirectional call answered one for one by requestId), each
   * until its answer goes out, and those still unanswered until then.
   */
  private counted(call: Parameters<ServerInterceptor>[1], perAnswer: boolean): ServerInterceptingCall {
    /** A unary call's bytes; a stream's are in `held`, by requestId. */
    let single = 0;
    const held = perAnswer ? new Map<unknown, number>() : undefined;
    const releaseAll = () => {
      this.used -= single;
      single = 0;
      if (!held) return;
      for (const bytes of held.values()) this.used -= bytes;
      held.clear();
    };
    const listener = new ServerListenerBuilder()
      .withOnReceiveMessage((message: unknown, next) => {
        const bytes = this.sizeOf(message);
        if (!this.tryTake(bytes)) {
          call.sendStatus(this.refusal(bytes));
          return;
        }
        if (held) {
          // A request_id sent again while it waits is the handler's to refuse: its bytes add up until then.
          const id = (message as { requestId?: unknown }).requestId;
          held.set(id, (held.get(id) ?? 0) + bytes);
        } else single += bytes;
        next(message);
      })
      .withOnCancel(releaseAll)
      .build();
    let responder = new ResponderBuilder().withStart((next) => next(listener));
    if (held) {
      responder = responder.withSendMessage((message: unknown, next) => {
        const id = (message as { requestId?: unknown }).requestId;
        const bytes = held.get(id);
        if (bytes !== undefined) {
          held.delete(id);
          this.used -= bytes;
        }
        next(message);
      });
    }
    return new ServerInterceptingCall(
      call,
      responder
        .withSendStatus((st, next) => {
          releaseAll();
          next(st);
        })
        .build(),
    );
  }

  /** The server interceptor enforcing the cap; put it outermost, so that refusals pass the metrics one. */
  readonly interceptor: ServerInterceptor = (method, call) => {
    if (method.requestStream !== method.responseStream) return new ServerInterceptingCall(call);
    return this.counted(call, method.requestStream);
  };
}
