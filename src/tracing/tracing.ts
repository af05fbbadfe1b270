/**
 * OpenTelemetry tracing of one process: a tracer provider with a batching OTLP/HTTP exporter
 * when `tracing.endpoint` is set, and nothing at all when it is not.
 *
 *   const tracing = Tracing.create(config.tracing, 'orchestrator', logger);
 *   const span = tracing.startSpan('submit', { parent: carrier, attributes: { ... } });
 *   task.trace = tracing.carrierOf(span);
 *   span.end();
 *   await tracing.close(); // flushes what is still queued
 *
 * Spans are parented explicitly, from the carrier a task holds (trace-context.ts): no global
 * provider or context manager is registered, so two orchestrators in one process (tests) keep
 * their own, and code that does not trace pays nothing. Off, `enabled` is false and callers skip
 * tracing altogether (they must not call startSpan): see src/tracing/span-names.ts for the spans.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, createTraceState, trace, type Attributes, type Link, type Span, type Tracer } from '@opentelemetry/api';
import { createRequire } from 'node:module';
import type * as OtlpHttp from '@opentelemetry/exporter-trace-otlp-http';
import type * as Resources from '@opentelemetry/resources';
import type * as Core from '@opentelemetry/core';
import type * as SdkTraceBase from '@opentelemetry/sdk-trace-base';
import type { BasicTracerProvider, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type * as SemanticConventions from '@opentelemetry/semantic-conventions';
import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import { repeatLimited, type RepeatedLog } from '../logging/repeat-limiter.js';
import { VERSION } from '../version.js';
import { formatTraceparent, parseTraceparent, type TraceCarrier } from './trace-context.js';

export type TracingConfig = Config['tracing'];

export interface SpanOptions {
  /** The span to continue (a caller's, or the one a task carries); none: a new trace. */
  parent?: TraceCarrier;
  kind?: SpanKind;
  attributes?: Attributes;
  /** When the span began, for spans recorded after the fact (queue wait), ms since the epoch. */
  startTimeMs?: number;
  links?: Link[];
}

/**
 * The SDK's modules, loaded the first time a process turns tracing on: one that does not trace
 * (the default) never loads them, which saves about a third of a pool's or front end's start-up
 * CPU. They are CommonJS packages, so a synchronous require keeps Tracing.create synchronous.
 */
function loadSdk() {
  const require = createRequire(import.meta.url);
  return {
    ...(require('@opentelemetry/exporter-trace-otlp-http') as typeof OtlpHttp),
    ...(require('@opentelemetry/resources') as typeof Resources),
    ...(require('@opentelemetry/core') as typeof Core),
    ...(require('@opentelemetry/sdk-trace-base') as typeof SdkTraceBase),
    ...(require('@opentelemetry/semantic-conventions') as typeof SemanticConventions),
  };
}

/** Longest a close waits for the last spans to be sent. */
const CLOSE_TIMEOUT_MS = 5_000;

export class Tracing {
  /** Tracing off: `enabled` is false and nothing is set up. */
  static readonly off = new Tracing(undefined, undefined);

  private constructor(
    private readonly provider: BasicTracerProvider | undefined,
    private readonly tracer: Tracer | undefined,
  ) {}

  /** Tracing as `config` says: off (Tracing.off) unless an endpoint is set and tracing is not disabled. */
  static create(config: TracingConfig, serviceName: string, logger: Logger): Tracing {
    if (!config.endpoint || config.disabled) return Tracing.off;
    const {
      OTLPTraceExporter,
      resourceFromAttributes,
      ExportResultCode,
      BasicTracerProvider,
      BatchSpanProcessor,
      ParentBasedSampler,
      TraceIdRatioBasedSampler,
      ATTR_SERVICE_NAME,
      ATTR_SERVICE_VERSION,
    } = loadSdk();
    const exporter = reportingFailures(
      ExportResultCode.SUCCESS,
      new OTLPTraceExporter({
        url: `${config.endpoint.replace(/\/+$/, '')}/v1/traces`,
        headers: { ...config.headers },
        timeoutMillis: config.exportTimeoutMs,
      }),
      repeatLimited(logger.child({ component: 'tracing' }), 'warn', 60_000),
    );
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName || serviceName, [ATTR_SERVICE_VERSION]: VERSION }),
      // A caller's trace keeps the caller's decision; a trace started here is sampled by ratio.
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
      spanProcessors: [
        new BatchSpanProcessor(exporter, {
          scheduledDelayMillis: config.exportIntervalMs,
          maxQueueSize: config.maxQueuedSpans,
          maxExportBatchSize: Math.min(512, config.maxQueuedSpans),
          exportTimeoutMillis: config.exportTimeoutMs,
        }),
      ],
    });
    // The endpoint only: the headers may hold credentials.
    logger.info({ component: 'tracing', endpoint: config.endpoint, sampleRatio: config.sampleRatio }, 'tracing: exporting spans over OTLP/HTTP');
    return new Tracing(provider, provider.getTracer('orchestrator', VERSION));
  }

  get enabled(): boolean {
    return this.tracer !== undefined;
  }

  /** Starts a span; call only when `enabled`. */
  startSpan(name: string, opts: SpanOptions = {}): Span {
    const tracer = this.tracer;
    if (!tracer) throw new Error('tracing is off');
    return tracer.startSpan(
      name,
      { kind: opts.kind ?? SpanKind.INTERNAL, attributes: opts.attributes, startTime: opts.startTimeMs, links: opts.links, root: !opts.parent },
      parentContext(opts.parent),
    );
  }

  /** The carrier a span's children elsewhere (a task, a step) continue from. */
  carrierOf(span: Span): TraceCarrier {
    const c = span.spanContext();
    const state = c.traceState?.serialize();
    return { traceparent: formatTraceparent({ traceId: c.traceId, spanId: c.spanId, flags: c.traceFlags }), ...(state ? { tracestate: state } : {}) };
  }

  /** A link to the span a carrier names (a batch's tasks, a step's run). */
  static linkTo(carrier: TraceCarrier, attributes?: Attributes): Link | undefined {
    const p = parseTraceparent(carrier.traceparent);
    return p ? { context: { traceId: p.traceId, spanId: p.spanId, traceFlags: p.flags, isRemote: true }, attributes } : undefined;
  }

  /** Sends what is queued and stops; bounded, and never throws (an unreachable receiver loses the last spans, nothing else). */
  async close(timeoutMs = CLOSE_TIMEOUT_MS): Promise<void> {
    if (!this.provider) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.provider.shutdown().catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs).unref()))]);
    clearTimeout(timer);
  }
}

/** Marks a span failed with `message` (its status; the message is the task's own, never a payload). */
export function failSpan(span: Span, message: string): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: message.slice(0, 500) });
}

/**
 * The exporter, with its failures logged: the SDK reports them only to its own diagnostics
 * logger, off by default, so a wrong endpoint would lose every span in silence. Once a minute at
 * most, with the error's message only (never the request's headers, which may hold a key).
 */
function reportingFailures(success: number, exporter: SpanExporter, warn: RepeatedLog): SpanExporter {
  return {
    export(spans, done) {
      exporter.export(spans, (result) => {
        if (result.code !== success) {
          warn({ message: result.error?.message ?? 'unknown error' }, `tracing: could not export ${spans.length} span(s); they are dropped`);
        }
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}

function parentContext(carrier: TraceCarrier | undefined) {
  if (!carrier) return ROOT_CONTEXT;
  const p = parseTraceparent(carrier.traceparent);
  if (!p) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: p.traceId,
    spanId: p.spanId,
    traceFlags: p.flags,
    isRemote: true,
    ...(carrier.tracestate ? { traceState: createTraceState(carrier.tracestate) } : {}),
  });
}
