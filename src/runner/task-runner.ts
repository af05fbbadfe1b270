/**
 * A task runner in TypeScript: functions served over orchestrator.runner.v1.TaskRunner
 * (proto/orchestrator/runner/v1/runner.proto, whose header is the contract this honours), for
 * the pools' `runner` executor. The Python package has the same thing (clients/python/).
 *
 *   const runner = new TaskRunner({ maxConcurrency: 4 });
 *   runner.task('resize', async (payload, ctx) => { await ctx.progress(50); return { ok: true }; });
 *   await runner.listen('127.0.0.1:8083');
 *
 * A function gets the task's payload and a context: its ids, a `signal` that aborts on cancel,
 * on the attempt's deadline, when the pool goes away and on shutdown, `progress()` and `log()`.
 * What it returns (JSON) is the result; what it throws fails the attempt, retryably unless it
 * is a TaskFailure saying otherwise.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import {
  LogStream,
  TaskRunnerService,
  type CancelRequest,
  type CancelResponse,
  type DescribeRequest,
  type DescribeResponse,
  type ExecuteEvent,
  type ExecuteRequest,
  type TaskRunnerServer,
} from '../gen/orchestrator/runner/v1/runner.js';
import { VERSION } from '../version.js';

export interface RunnerTaskContext {
  taskId: string;
  /** 1-based. */
  attempt: number;
  /** Attempts the task may have in all (0 when the pool did not say). */
  maxAttempts: number;
  taskClass: string;
  /** When the attempt times out; undefined for no limit. */
  deadline?: Date;
  traceparent: string;
  tracestate: string;
  /** Aborts on cancel, deadline, the pool going away or shutdown; `signal.reason` is a RunnerAbort. */
  signal: AbortSignal;
  /** Reports progress (a JSON value, e.g. a percentage). */
  progress(value: unknown): void;
  /** Writes a line to the attempt's log (GetTaskLogs), on the `log` stream unless another is named. */
  log(text: string, stream?: 'log' | 'stdout' | 'stderr'): void;
}

export type RunnerTaskFn = (payload: Record<string, string>, ctx: RunnerTaskContext) => unknown;

/** Thrown by a task to fail its attempt its own way (by default: not retried). */
export class TaskFailure extends Error {
  readonly retryable: boolean;
  readonly detail?: Record<string, unknown>;
  constructor(message: string, opts: { retryable?: boolean; detail?: Record<string, unknown> } = {}) {
    super(message);
    this.name = 'TaskFailure';
    this.retryable = opts.retryable ?? false;
    this.detail = opts.detail;
  }
}

/** Why a task's signal aborted. */
export class RunnerAbort extends Error {
  constructor(readonly reason: 'cancelled' | 'timed_out' | 'caller_gone' | 'replaced' | 'shutdown' | string) {
    super(`aborted: ${reason}`);
    this.name = 'RunnerAbort';
  }
}

export interface TaskRunnerOptions {
  /** Named in Describe and Health. @default "typescript-runner" */
  name?: string;
  /** Calls run at once; one more is answered RESOURCE_EXHAUSTED. @default 4 */
  maxConcurrency?: number;
  /** Expected as "authorization: Bearer <token>" on every call. @default none */
  token?: string;
  /** Serve TLS with these PEM files; with `ca`, client certificates signed by it are required. */
  tls?: { cert: string; key: string; ca?: string };
}

interface Running {
  abort: AbortController;
  done: Promise<void>;
}

const STREAMS = { log: LogStream.LOG_STREAM_LOG, stdout: LogStream.LOG_STREAM_STDOUT, stderr: LogStream.LOG_STREAM_STDERR } as const;

export class TaskRunner {
  private readonly tasks = new Map<string, RunnerTaskFn>();
  private readonly running = new Map<string, Running>();
  private readonly maxConcurrency: number;
  private server?: grpc.Server;
  private closing = false;

  /** "Bearer <token>" as bytes, when a token is configured. */
  private readonly expected?: Buffer;

  constructor(private readonly opts: TaskRunnerOptions = {}) {
    this.maxConcurrency = Math.max(1, opts.maxConcurrency ?? 4);
    if (opts.token) this.expected = Buffer.from(`Bearer ${opts.token}`);
  }

  /** Serves `fn` as the task `name`. */
  task(name: string, fn: RunnerTaskFn): this {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$/.test(name)) throw new TypeError(`"${name}" is not a task name ([A-Za-z0-9_.:/-], at most 128)`);
    this.tasks.set(name, fn);
    return this;
  }

  /** Attempts running now. */
  get inFlight(): number {
    return this.running.size;
  }

  /** Starts serving; resolves with the port (useful with port 0). @default address "127.0.0.1:8083" */
  async listen(address = '127.0.0.1:8083'): Promise<number> {
    // Channelz off as on our other servers (src/client/channelz.ts, which this package does not load).
    const server = (this.server = new grpc.Server({ 'grpc.enable_channelz': 0, 'grpc.max_receive_message_length': 16 << 20 }));
    const impl: TaskRunnerServer = {
      execute: (call) => this.execute(call),
      cancel: (call, cb) => this.authorised(call.metadata, cb) && cb(null, this.cancel(call.request)),
      describe: (call: grpc.ServerUnaryCall<DescribeRequest, DescribeResponse>, cb) => this.authorised(call.metadata, cb) && cb(null, this.describe()),
    };
    server.addService(TaskRunnerService, impl);
    const { tls } = this.opts;
    const creds = tls
      ? grpc.ServerCredentials.createSsl(
          tls.ca ? readFileSync(tls.ca) : null,
          [{ cert_chain: readFileSync(tls.cert), private_key: readFileSync(tls.key) }],
          !!tls.ca,
        )
      : grpc.ServerCredentials.createInsecure();
    return new Promise((resolve, reject) => server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(port))));
  }

  /**
   * Stops taking calls, lets the running ones finish for up to `graceMs`, then aborts them
   * (reason "shutdown": they end as retryable failures) and closes the server.
   */
  async shutdown(graceMs = 10_000): Promise<void> {
    this.closing = true;
    const all = () => Promise.all([...this.running.values()].map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all(), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const r of this.running.values()) r.abort.abort(new RunnerAbort('shutdown'));
    await all();
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.tryShutdown(() => resolve());
    });
  }

  private describe(): DescribeResponse {
    return {
      taskNames: [...this.tasks.keys()].sort(),
      maxConcurrency: this.maxConcurrency,
      runner: `${this.opts.name ?? 'typescript-runner'} (orchestrator ${VERSION})`,
    };
  }

  private cancel(req: CancelRequest): CancelResponse {
    const r = this.running.get(key(req.taskId, req.attempt));
    r?.abort.abort(new RunnerAbort(req.reason || 'cancelled'));
    return { found: r !== undefined };
  }

  /** Whether the call carries the token (compared in constant time), when one is configured. */
  private tokenOk(md: grpc.Metadata): boolean {
    if (!this.expected) return true;
    const given = md.get('authorization')[0];
    const bytes = Buffer.from(typeof given === 'string' ? given : (given ?? ''));
    return bytes.length === this.expected.length && timingSafeEqual(bytes, this.expected);
  }

  private authorised(md: grpc.Metadata, cb: (err: grpc.ServiceError) => void): boolean {
    if (this.tokenOk(md)) return true;
    cb(serviceError(grpc.status.UNAUTHENTICATED, 'a valid "authorization: Bearer <token>" is required'));
    return false;
  }

  private execute(call: grpc.ServerWritableStream<ExecuteRequest, ExecuteEvent>): void {
    // grpc-js ends a server stream with this status when the stream emits the error.
    const fail = (code: grpc.status, message: string): void => void call.emit('error', serviceError(code, message));
    if (!this.tokenOk(call.metadata)) return fail(grpc.status.UNAUTHENTICATED, 'a valid "authorization: Bearer <token>" is required');
    if (this.closing) return fail(grpc.status.UNAVAILABLE, 'the runner is shutting down');
    const req = call.request;
    const k = key(req.taskId, req.attempt);
    // A second delivery of an attempt still running: its first caller is gone, so it is replaced.
    const previous = this.running.get(k);
    previous?.abort.abort(new RunnerAbort('replaced'));
    if (!previous && this.running.size >= this.maxConcurrency)
      return fail(grpc.status.RESOURCE_EXHAUSTED, `${this.running.size} tasks running, the most this runner takes (${this.maxConcurrency})`);

    const abort = new AbortController();
    const send = (event: ExecuteEvent['event']) => {
      if (!call.writableEnded && !call.destroyed) call.write({ event });
    };
    const fn = this.tasks.get(req.taskName);
    let deadlineTimer: NodeJS.Timeout | undefined;
    const run = async (): Promise<void> => {
      if (previous) await previous.done;
      if (!fn) {
        send({
          $case: 'failure',
          value: { message: `this runner does not serve "${req.taskName}"`, retryable: false, errorType: 'UnknownTask', detailJson: '' },
        });
        return;
      }
      if (req.deadlineUnixMs > 0) deadlineTimer = setTimeout(() => abort.abort(new RunnerAbort('timed_out')), Math.max(0, req.deadlineUnixMs - Date.now()));
      const ctx: RunnerTaskContext = {
        taskId: req.taskId,
        attempt: req.attempt,
        maxAttempts: req.maxAttempts,
        taskClass: req.taskClass,
        deadline: req.deadlineUnixMs > 0 ? new Date(req.deadlineUnixMs) : undefined,
        traceparent: req.traceparent,
        tracestate: req.tracestate,
        signal: abort.signal,
        progress: (value) => send({ $case: 'progress', value: { json: JSON.stringify(value ?? null) } }),
        log: (text, stream = 'log') => send({ $case: 'log', value: { stream: STREAMS[stream], text: String(text) } }),
      };
      try {
        const value = await fn(req.payload, ctx);
        if (abort.signal.aborted) throw abort.signal.reason;
        send({ $case: 'result', value: { json: JSON.stringify(value ?? null) } });
      } catch (err) {
        send({ $case: 'failure', value: failureOf(err) });
      }
    };
    const done = run().finally(() => {
      clearTimeout(deadlineTimer);
      if (this.running.get(k)?.abort === abort) this.running.delete(k);
      if (!call.writableEnded && !call.destroyed) call.end();
    });
    this.running.set(k, { abort, done });
    call.on('cancelled', () => abort.abort(new RunnerAbort('caller_gone')));
  }
}

function key(taskId: string, attempt: number): string {
  return `${attempt}/${taskId}`;
}

function serviceError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

function failureOf(err: unknown): { message: string; retryable: boolean; errorType: string; detailJson: string } {
  if (err instanceof TaskFailure)
    return { message: err.message, retryable: err.retryable, errorType: err.name, detailJson: err.detail ? JSON.stringify(err.detail) : '' };
  if (err instanceof RunnerAbort) return { message: err.message, retryable: true, errorType: err.name, detailJson: '' };
  const e = err instanceof Error ? err : new Error(String(err));
  return { message: e.message || e.name, retryable: true, errorType: e.name, detailJson: JSON.stringify({ stack: (e.stack ?? '').slice(0, 8_000) }) };
}
