/**
 * What a handler module exports: `export default async function (payload, ctx) { ... }`.
 * The return value (JSON-serialisable) is the task's result; a thrown error fails the attempt.
 * Throw an error with `retryable = false` (or named "UnrecoverableError") to fail without
 * retrying. Handlers should honour `ctx.signal` (check `signal.aborted` too: it can fire before
 * the handler is called); a sandboxed one that does not is killed.
 */
export interface HandlerContext {
  taskId: string;
  taskClass: string;
  attempt: number;
  /**
   * The task's extra environment (CUDA_VISIBLE_DEVICES for a GPU class; TRACEPARENT and
   * TRACESTATE of its run's span when the pool traces); a sandboxed handler also has it in process.env.
   */
  env: Record<string, string>;
  signal: AbortSignal;
  progress(value: unknown): Promise<void>;
  /**
   * A line in the task's log (GetTaskLogs, `orchctl logs`, Bull Board's Logs tab), stream `log`;
   * arguments are formatted like console.log's. A sandboxed handler's console output is captured
   * too (streams stdout and stderr); an in-process handler's console is the pool's own.
   */
  log(...args: unknown[]): void;
}

export type Handler = (payload: Record<string, string>, ctx: HandlerContext) => unknown;
