/**
 * The span of a gRPC call that submits work (SubmitTask, SubmitTasks, StartWorkflowRun): it
 * continues the caller's W3C `traceparent` / `tracestate` metadata, or starts a new trace when
 * there is none or it is malformed, and hands the carrier of its own span to what the call
 * submits. With tracing off nothing is read and nothing is carried.
 */
import { SpanKind, type Attributes, type Span } from '@opentelemetry/api';
import type { Metadata } from '@grpc/grpc-js';
import { parseCarrier, type TraceCarrier } from '../tracing/trace-context.js';
import { failSpan, type Tracing } from '../tracing/tracing.js';
import { ATTR } from '../tracing/span-names.js';
import { OrchestratorError } from '../errors/errors.js';

/**
 * The caller's trace context, or undefined. Hostile input: two traceparent values are invalid
 * per the W3C spec and ignored; every value is bounded (trace-context.ts). Never throws.
 */
export function callerCarrier(metadata: Metadata | undefined): TraceCarrier | undefined {
  if (!metadata) return undefined;
  const parents = metadata.get('traceparent');
  if (parents.length !== 1 || typeof parents[0] !== 'string') return undefined;
  // Several tracestate values are one list (W3C: combined as one header would be).
  const states = metadata.get('tracestate').filter((v): v is string => typeof v === 'string');
  return parseCarrier(parents[0], states.length > 0 ? states.join(',') : undefined);
}

export interface CallSpanOptions<T> {
  name: string;
  /** The RPC, e.g. "SubmitTask". */
  method: string;
  attributes?: Attributes;
  /** Attributes of the answer (task id, created). */
  describe?(result: T, span: Span): void;
}

/**
 * Runs `fn` under the call's span when tracing is on; `fn` gets the carrier of that span for
 * the tasks it submits (undefined when off). A refused call (bad input, exists already) ends
 * the span with an error status and its message, and changes nothing else.
 */
export async function withCallSpan<T>(
  tracing: Tracing,
  metadata: Metadata | undefined,
  opts: CallSpanOptions<T>,
  fn: (carrier: TraceCarrier | undefined) => Promise<T>,
): Promise<T> {
  if (!tracing.enabled) return fn(undefined);
  const span = tracing.startSpan(opts.name, {
    parent: callerCarrier(metadata),
    kind: SpanKind.SERVER,
    attributes: { [ATTR.rpcSystem]: 'grpc', [ATTR.rpcMethod]: opts.method, ...opts.attributes },
  });
  try {
    const result = await fn(tracing.carrierOf(span));
    opts.describe?.(result, span);
    return result;
  } catch (err) {
    if (err instanceof OrchestratorError) span.setAttribute(ATTR.errorCode, err.code);
    failSpan(span, err instanceof Error ? err.message : String(err));
    throw err;
  } finally {
    span.end();
  }
}
