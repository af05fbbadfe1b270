/**
 * The contract every executor implements: run one attempt of a task and return its result,
 * or throw a TaskError. The pool owns timeouts and cancellation and expresses both through
 * `signal`; an executor must stop its work (kill the subprocess, container, ...) promptly when
 * the signal aborts, and then throw.
 */
export interface ExecutionContext {
  taskId: string;
  taskClass: string;
  /** 1-based number of this attempt. */
  attempt: number;
  /** Attempts the task may have in all. */
  maxAttempts?: number;
  /** When the pool gives up on this attempt (its timeout), ms since the epoch. */
  deadlineAtMs?: number;
  /** Aborted on timeout or cancel; `signal.reason` is a TaskError saying which. */
  signal: AbortSignal;
  /** Extra environment for subprocesses (e.g. CUDA_VISIBLE_DEVICES). */
  env: Record<string, string>;
  /**
   * The GPU this attempt holds (a device id), for tasks of a GPU class; already in `env` as
   * CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES. Containers get it as a device request.
   */
  gpu?: string;
  /**
   * W3C trace context of this run's span, when the pool traces (workers/attempt-tracing.ts),
   * which also puts it in `env` as TRACEPARENT / TRACESTATE; executors without an environment
   * pass it on their own way (http: the `traceparent` header).
   */
  traceparent?: string;
  tracestate?: string;
  /** Report progress; the value must be JSON-serialisable. */
  progress(value: unknown): Promise<void>;
  /**
   * The attempt's log (workers/attempt-log.ts): what the task printed, as the operator reads it
   * with GetTaskLogs and in Bull Board. Absent where nothing captures (executors run alone).
   */
  output?: AttemptOutput;
}

/** Where an executor puts what its task printed; bounded and batched by the receiver. */
export interface AttemptOutput {
  /** Raw output of a process on one stream; split into lines by the receiver. */
  write(stream: 'stdout' | 'stderr', chunk: Buffer | string): void;
  /** One message on a stream (a handler's ctx.log); may hold newlines. */
  line(stream: 'stdout' | 'stderr' | 'log' | 'system', text: string): void;
}

export interface Executor<Spec> {
  readonly kind: string;
  run(spec: Spec, payload: Record<string, string>, ctx: ExecutionContext): Promise<unknown>;
  /** Release long-lived resources (child pools, clients). */
  close?(): Promise<void>;
  /**
   * Stop what an attempt left running outside the pool when no pool will run that attempt again
   * (its task stalled out: its pools died more often than the class allows). Runs on the pool
   * whose stall check saw it, not the one that ran the attempt.
   */
  abandon?(taskId: string, attempt: number): Promise<void>;
}

/**
 * An executor built on its kind's first task, so that a pool which never runs the kind never
 * loads what it needs (the runner executor's gRPC). Nothing is loaded to close it or to abandon a
 * task: an executor never built has nothing running.
 */
export function lazyExecutor<Spec>(kind: string, build: () => Promise<Executor<Spec>>): Executor<Spec> {
  let built: Promise<Executor<Spec>> | undefined;
  return {
    kind,
    run: async (spec, payload, ctx) => (await (built ??= build())).run(spec, payload, ctx),
    close: async () => {
      if (built) await (await built).close?.();
    },
    abandon: async (taskId, attempt) => {
      if (built) await (await built).abandon?.(taskId, attempt);
    },
  };
}
