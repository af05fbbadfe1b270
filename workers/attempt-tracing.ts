/**
 * A pool's spans (src/tracing/): wraps the task processor and the executors it calls, so that
 * task-processor.ts and the executors need no tracing of their own.
 *
 * - `queue wait`: from the task's submission to its first attempt's start, recorded when the
 *   attempt starts (with that explicit start time). A retry's wait is the gap between its
 *   attempt spans.
 * - `attempt`: one per attempt, a child of the span that submitted the task (the trace its job
 *   carries) or a new trace for a task submitted without one. Attributes: task id, class,
 *   attempt, executor kind, pool, outcome, and the executor's exit code and error code.
 * - `execute <kind>`: the executor's run, a child of the attempt. Its traceparent is handed to
 *   the task: TRACEPARENT (and TRACESTATE) in the environment of commands, containers, Slurm
 *   jobs and handlers (ctx.env), the `traceparent` header of an HTTP runner's request.
 *
 * The processor's AbortSignal ties an executor's run to its attempt: BullMQ gives each run its
 * own signal, and the processor passes that very signal to the executor (ExecutionContext.signal).
 * With tracing off nothing is wrapped.
 */
import { DelayedError, UnrecoverableError, type Job, type Processor } from 'bullmq';
import { SpanKind, type Attributes, type Span } from '@opentelemetry/api';
import { attemptsBefore, type TaskJobData } from '../src/tasks/task-spec.js';
import { jobExecutorKind } from '../src/store/codecs/job-data.js';
import { OrchestratorError } from '../src/errors/errors.js';
import { parseCarrier } from '../src/tracing/trace-context.js';
import { failSpan, type Tracing } from '../src/tracing/tracing.js';
import { ATTR, SPAN } from '../src/tracing/span-names.js';
import type { ExecutionContext, Executor } from './executors/executor.js';
import type { AttemptOutcome } from './task-processor.js';

/** What a job's data says of its trace and executor; the data comes from Redis, so nothing is assumed. */
function jobFacts(job: Job<TaskJobData>) {
  const data: unknown = job.data;
  const d = typeof data === 'object' && data !== null ? (data as Partial<TaskJobData>) : {};
  const kind = (jobExecutorKind({ name: job.name, data: d as TaskJobData }) ?? 'handler').slice(0, 32);
  return { parent: parseCarrier(d.traceparent, d.tracestate), kind, before: attemptsBefore(d as TaskJobData) };
}

/**
 * How an attempt ended, read from what the processor returned or threw (task-processor.ts):
 * UnrecoverableError ends the task (its reason starts "cancelled" for a cancel), DelayedError
 * leaves the job (handed back on shutdown, or the run lost its lock), any other error retries.
 */
function outcomeOf(err: unknown, signal: AbortSignal | undefined): AttemptOutcome {
  if (err instanceof UnrecoverableError) return err.message.startsWith('cancelled') ? 'cancelled' : 'failed';
  if (err instanceof DelayedError) return (signal?.reason as Error | undefined)?.name === 'HandBack' ? 'handed_back' : 'lock_lost';
  return 'retried';
}

/** The exit code an executor reported, in its result or its error's detail, when it has one. */
function exitCodeOf(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const code = (value as { exitCode?: unknown }).exitCode;
  return typeof code === 'number' && Number.isInteger(code) ? code : undefined;
}

/**
 * The pool's tracing of attempts: `processor()` wraps the task processor, `executors()` the
 * executors it is given; both return what they are given when tracing is off.
 */
export class AttemptTracing {
  /** Each running attempt's span, by the signal of its run. */
  private readonly attempts = new WeakMap<AbortSignal, Span>();

  constructor(
    private readonly tracing: Tracing,
    private readonly poolId: string,
  ) {}

  processor(processor: Processor<TaskJobData>): Processor<TaskJobData> {
    const { tracing, attempts, poolId } = this;
    if (!tracing.enabled) return processor;
    return async (job: Job<TaskJobData>, token?: string, signal?: AbortSignal) => {
      const startedAt = Date.now();
      const { parent, kind, before } = jobFacts(job);
      const attributes: Attributes = {
        [ATTR.taskId]: job.id ?? '',
        [ATTR.taskClass]: job.queueName,
        [ATTR.attempt]: before + job.attemptsMade + 1,
        [ATTR.executorKind]: kind,
        [ATTR.poolId]: poolId,
      };
      if (before === 0 && job.attemptsMade === 0 && job.timestamp > 0 && job.timestamp <= startedAt) {
        tracing.startSpan(SPAN.queueWait, { parent, attributes, startTimeMs: job.timestamp }).end(startedAt);
      }
      const span = tracing.startSpan(SPAN.attempt, { parent, kind: SpanKind.CONSUMER, attributes, startTimeMs: startedAt });
      if (signal) attempts.set(signal, span);
      try {
        const result: unknown = await processor(job, token, signal);
        span.setAttribute(ATTR.outcome, 'succeeded');
        return result;
      } catch (err) {
        const outcome = outcomeOf(err, signal);
        span.setAttribute(ATTR.outcome, outcome);
        if (outcome !== 'handed_back') failSpan(span, err instanceof Error ? err.message : String(err));
        throw err;
      } finally {
        span.end();
      }
    };
  }

  executors(executors: ReadonlyMap<string, Executor<unknown>>): ReadonlyMap<string, Executor<unknown>> {
    if (!this.tracing.enabled) return executors;
    return new Map([...executors].map(([name, e]) => [name, this.wrap(e)]));
  }

  private wrap(inner: Executor<unknown>): Executor<unknown> {
    const { tracing, attempts } = this;
    return {
      kind: inner.kind,
      async run(spec: unknown, payload: Record<string, string>, ctx: ExecutionContext): Promise<unknown> {
        const attempt = attempts.get(ctx.signal);
        const span = tracing.startSpan(SPAN.execute(inner.kind), {
          parent: attempt ? tracing.carrierOf(attempt) : undefined,
          attributes: { [ATTR.taskId]: ctx.taskId, [ATTR.taskClass]: ctx.taskClass, [ATTR.attempt]: ctx.attempt, [ATTR.executorKind]: inner.kind },
        });
        const carrier = tracing.carrierOf(span);
        const env = { ...ctx.env, TRACEPARENT: carrier.traceparent, ...(carrier.tracestate ? { TRACESTATE: carrier.tracestate } : {}) };
        const mark = (key: string, value: string | number) => {
          span.setAttribute(key, value);
          attempt?.setAttribute(key, value);
        };
        try {
          const result = await inner.run(spec, payload, { ...ctx, env, traceparent: carrier.traceparent, tracestate: carrier.tracestate });
          const code = exitCodeOf(result);
          if (code !== undefined) mark(ATTR.exitCode, code);
          return result;
        } catch (err) {
          const code = exitCodeOf((err as { detail?: unknown } | undefined)?.detail);
          if (code !== undefined) mark(ATTR.exitCode, code);
          if (err instanceof OrchestratorError) mark(ATTR.errorCode, err.code);
          failSpan(span, err instanceof Error ? err.message : String(err));
          throw err;
        } finally {
          span.end();
        }
      },
    };
  }
}
