/**
 * The `runner` executor: one attempt handed to a task runner over
 * orchestrator.runner.v1.TaskRunner (proto/orchestrator/runner/v1/runner.proto, whose header is
 * the contract), with the runner's progress and log lines mapped onto the task's events and log
 * as they come, and its Result or Failure onto the attempt's outcome.
 *
 * Why it is shaped like this:
 * - Which runner: the one the task names, or any of its class's (policy.runner.runners, on this
 *   pool's config) that is up, serves the task's name and has a free slot, the least loaded
 *   first. A pool never has more calls in flight to a runner than the runner announced
 *   (Describe); a task waits for a slot (as for a GPU), its cancel and the pool's shutdown
 *   ending the wait.
 * - A runner that cannot be reached fails the attempt at once, retryably (never a hang): the
 *   class's retries and backoff take it from there, on this runner once it is back or on
 *   another of the class's.
 * - Cancel and timeout are the pool's, as for every executor: when `ctx.signal` aborts, the
 *   runner is sent Cancel and has `cancelGraceMs` to end the call; then the call is cancelled
 *   (which a runner also sees) and its slot freed whether the runner stopped or not.
 * - The call's gRPC deadline is the attempt's deadline plus that grace, so a call outlives
 *   neither the attempt nor a pool that stopped waiting.
 * - Progress is passed on at most every `progressIntervalMs` (the latest value wins; the last
 *   one before the outcome is never dropped): each is two Redis writes, and a runner may
 *   report in a tight loop.
 */
import * as grpc from '@grpc/grpc-js';
import { TaskError } from '../../src/errors/errors.js';
import { LogStream, type ExecuteEvent, type ExecuteRequest } from '../../src/gen/orchestrator/runner/v1/runner.js';
import type { RunnerExecutorSpec } from '../../src/executors/executor-spec.js';
import { abortError } from './abort-error.js';
import type { ExecutionContext, Executor } from './executor.js';
import { describeGrpcError, REFUSED, type RunnerSlot, type RunnerStatus, type RunnerTarget, type RunnerTargets } from './runner-targets.js';

export interface RunnerExecutorOptions {
  targets: RunnerTargets;
  /** The runners a class's tasks may use on this pool (its policy.runner.runners). */
  classRunners(taskClass: string): readonly string[];
  /** After a Cancel, how long the runner has to end the call before it is cut off. */
  cancelGraceMs: number;
  /** @default 100 */
  progressIntervalMs?: number;
}

/** gRPC statuses that say the runner will not take this call however often it is sent. */
const PERMANENT = new Set([...REFUSED, grpc.status.INVALID_ARGUMENT]);
/** Statuses that say the runner is not there (its state turns down until a Describe answers). */
const UNREACHABLE = new Set([grpc.status.UNAVAILABLE]);
/** How close to the attempt's deadline a runner's failure is taken as the timeout. */
const DEADLINE_SLACK_MS = 50;
/** Longest progress value or log line taken from a runner, in characters. */
const MAX_PROGRESS_CHARS = 64 * 1024;
const MAX_LOG_CHARS = 64 * 1024;

const LOG_STREAMS: Record<LogStream, 'stdout' | 'stderr' | 'log'> = {
  [LogStream.LOG_STREAM_UNSPECIFIED]: 'log',
  [LogStream.LOG_STREAM_STDOUT]: 'stdout',
  [LogStream.LOG_STREAM_STDERR]: 'stderr',
  [LogStream.LOG_STREAM_LOG]: 'log',
  [LogStream.UNRECOGNIZED]: 'log',
};

type Spec = Omit<RunnerExecutorSpec, 'kind'>;

export class RunnerExecutor implements Executor<Spec> {
  readonly kind = 'runner';
  private readonly progressIntervalMs: number;

  constructor(private readonly opts: RunnerExecutorOptions) {
    this.progressIntervalMs = opts.progressIntervalMs ?? 100;
    // Described at once, so the pool's heartbeat (and Health) shows its runners before any task.
    void opts.targets.refreshAll();
  }

  /** Each runner's state as this pool sees it (the pool's heartbeat carries it to Health). */
  statuses(): RunnerStatus[] {
    return this.opts.targets.statuses();
  }

  async run(spec: Spec, payload: Record<string, string>, ctx: ExecutionContext): Promise<unknown> {
    const allowed = this.opts.classRunners(ctx.taskClass);
    const names = spec.runner ? [spec.runner] : allowed;
    if (spec.runner && !allowed.includes(spec.runner))
      throw new TaskError(
        'policy_denied',
        `executor.runner.runner "${spec.runner}" is not allowed for class ${ctx.taskClass} on this pool (policy.runner.runners)`,
        {
          retryable: false,
        },
      );
    const slot = await this.acquire(names, spec.task, ctx.signal);
    try {
      return await this.call(slot.target, spec, payload, ctx);
    } finally {
      slot.release();
    }
  }

  /** A slot on a runner that serves `task`: waits while all are busy; fails at once when none can take it. */
  private async acquire(names: readonly string[], task: string, signal: AbortSignal): Promise<RunnerSlot> {
    const targets = names.map((n) => this.opts.targets.get(n)).filter((t): t is RunnerTarget => t !== undefined);
    if (targets.length === 0)
      throw new TaskError('task_failed', `no task runner of ${names.join(', ') || '(none)'} is configured on this pool (executors.runner.runners)`, {
        retryable: false,
      });
    for (;;) {
      if (signal.aborted) throw abortError(signal.reason, 'cancelled while waiting for a task runner');
      // Runners unknown or down for a while are described again; the first that serves the task
      // with a free slot is used without waiting for the others' answers.
      for (const t of targets) void t.refresh();
      const serving = targets.filter((t) => t.state === 'up' && t.tasks.has(task));
      const free = serving.filter((t) => t.hasFreeSlot()).sort((a, b) => a.inFlight / a.capacity - b.inFlight / b.capacity);
      if (free.length > 0) return free[0]!.take();
      const describing = targets.filter((t) => t.describingNow);
      if (serving.length === 0 && describing.length === 0) {
        const why = targets.map((t) => `${t.name}: ${t.state === 'up' ? `serves ${[...t.tasks].slice(0, 20).join(', ') || 'nothing'}` : t.detail || t.state}`);
        const down = targets.filter((t) => t.state !== 'up');
        throw new TaskError(
          'task_failed',
          down.length > 0 ? `no task runner serving "${task}" could be reached (${why.join('; ')})` : `no task runner serves "${task}" (${why.join('; ')})`,
          // A runner that refused us (a wrong token, not a runner) will go on refusing.
          { retryable: !(down.length > 0 && down.every((t) => t.refused)), detail: { runners: targets.map((t) => t.status()) } },
        );
      }
      // Every runner that serves the task is full, or one is still being described: wait for a
      // slot or an answer, then look again.
      const stop = new AbortController();
      const onAbort = () => stop.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        await Promise.race([...serving, ...describing].map((t) => t.waitForChange(stop.signal, 1_000)));
      } finally {
        stop.abort();
        signal.removeEventListener('abort', onAbort);
      }
    }
  }

  private call(target: RunnerTarget, spec: Spec, payload: Record<string, string>, ctx: ExecutionContext): Promise<unknown> {
    const started = performance.now();
    const { cancelGraceMs } = this.opts;
    const request: ExecuteRequest = {
      taskId: ctx.taskId,
      attempt: ctx.attempt,
      maxAttempts: ctx.maxAttempts ?? 0,
      taskClass: ctx.taskClass,
      taskName: spec.task,
      payload,
      deadlineUnixMs: ctx.deadlineAtMs ?? 0,
      traceparent: ctx.traceparent ?? '',
      tracestate: ctx.tracestate ?? '',
    };
    const where = `task runner ${target.name} (${target.status().address})`;
    const call = target.client.execute(request, target.metadata(), ctx.deadlineAtMs ? { deadline: ctx.deadlineAtMs + cancelGraceMs } : {});
    const progress = new ProgressRelay(ctx, this.progressIntervalMs);

    return new Promise<unknown>((resolve, reject) => {
      let outcome: ExecuteEvent['event'] = undefined;
      let settled = false;
      let cutOff: NodeJS.Timeout | undefined;
      const settle = (err: grpc.ServiceError | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(cutOff);
        ctx.signal.removeEventListener('abort', onAbort);
        const seconds = (performance.now() - started) / 1000;
        if (ctx.signal.aborted) {
          target.observe('cancelled', seconds);
          progress.stop();
          reject(abortError(ctx.signal.reason, 'cancelled'));
          return;
        }
        if (err) {
          target.observe('error', seconds);
          progress.stop();
          if (UNREACHABLE.has(err.code)) target.markDown(describeGrpcError(err));
          reject(
            new TaskError('task_failed', `${where}: ${describeGrpcError(err)}`, {
              retryable: !PERMANENT.has(err.code),
              detail: { runner: target.name, grpcStatus: grpc.status[err.code] ?? err.code },
            }),
          );
          return;
        }
        target.markUp();
        void progress.flush().then(async () => {
          // A runner may report the deadline itself (the contract allows it), racing the pool's
          // own timer: an outcome other than a result at the deadline is the pool's timeout.
          if (outcome?.$case !== 'result' && ctx.deadlineAtMs !== undefined && Date.now() >= ctx.deadlineAtMs - DEADLINE_SLACK_MS) {
            await abortedWithin(ctx.signal, 2 * DEADLINE_SLACK_MS + 1_000);
            if (ctx.signal.aborted) {
              target.observe('cancelled', seconds);
              reject(abortError(ctx.signal.reason, 'timed out'));
              return;
            }
          }
          if (outcome?.$case === 'result') {
            const parsed = parseJson(outcome.value.json);
            if (parsed.ok) {
              target.observe('succeeded', seconds);
              resolve(parsed.value);
            } else {
              target.observe('error', seconds);
              reject(new TaskError('task_failed', `${where} sent a result that is not JSON`, { retryable: false, detail: { runner: target.name } }));
            }
          } else if (outcome?.$case === 'failure') {
            target.observe('failed', seconds);
            const f = outcome.value;
            const detail = f.detailJson ? parseJson(f.detailJson) : undefined;
            reject(
              new TaskError('task_failed', f.message || `${f.errorType || 'the task'} failed on ${where}`, {
                retryable: f.retryable,
                detail: {
                  runner: target.name,
                  ...(f.errorType ? { errorType: f.errorType } : {}),
                  ...(detail?.ok && isRecord(detail.value) ? detail.value : detail?.ok ? { detail: detail.value } : {}),
                },
              }),
            );
          } else {
            target.observe('error', seconds);
            reject(new TaskError('task_failed', `${where} ended the call without a result or a failure`, { retryable: true, detail: { runner: target.name } }));
          }
        });
      };

      const onAbort = () => {
        // Ask first, so the runner can end the work its own way; cut the call off after the grace.
        const reason =
          ctx.signal.reason instanceof TaskError && ctx.signal.reason.code === 'timed_out'
            ? 'timed_out'
            : ctx.signal.reason instanceof TaskError
              ? 'cancelled'
              : 'shutdown';
        target.client.cancel(
          { taskId: ctx.taskId, attempt: ctx.attempt, reason },
          target.metadata(),
          { deadline: Date.now() + Math.max(1_000, cancelGraceMs) },
          () => undefined,
        );
        cutOff = setTimeout(() => call.cancel(), cancelGraceMs);
      };
      if (ctx.signal.aborted) onAbort();
      else ctx.signal.addEventListener('abort', onAbort, { once: true });

      call.on('data', (ev: ExecuteEvent) => {
        const e = ev.event;
        if (!e || outcome) return;
        switch (e.$case) {
          case 'progress': {
            const v = e.value.json.length <= MAX_PROGRESS_CHARS ? parseJson(e.value.json) : undefined;
            if (v?.ok) progress.push(v.value);
            else ctx.output?.line('system', `${where} sent progress that is not JSON (or over ${MAX_PROGRESS_CHARS} characters); dropped`);
            break;
          }
          case 'log':
            ctx.output?.line(LOG_STREAMS[e.value.stream] ?? 'log', e.value.text.slice(0, MAX_LOG_CHARS));
            break;
          case 'result':
          case 'failure':
            outcome = e;
            break;
        }
      });
      call.on('error', (err: grpc.ServiceError) => settle(err));
      call.on('end', () => settle(null));
    });
  }

  /** Asks every runner that is up to stop the attempt (its pool is gone and will not rerun it). */
  async abandon(taskId: string, attempt: number): Promise<void> {
    await Promise.all(
      this.opts.targets
        .statuses()
        .filter((s) => s.state === 'up')
        .map(
          (s) =>
            new Promise<void>((resolve) => {
              const t = this.opts.targets.get(s.name)!;
              t.client.cancel({ taskId, attempt, reason: 'abandoned' }, t.metadata(), { deadline: Date.now() + 2_000 }, () => resolve());
            }),
        ),
    );
  }

  async close(): Promise<void> {
    this.opts.targets.close();
  }
}

/** Passes progress on at most every `intervalMs`, in order, the latest value winning. */
class ProgressRelay {
  private latest: { value: unknown } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastSentMs = 0;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly ctx: ExecutionContext,
    private readonly intervalMs: number,
  ) {}

  push(value: unknown): void {
    if (this.stopped) return;
    this.latest = { value };
    const wait = this.lastSentMs + this.intervalMs - Date.now();
    if (wait <= 0) this.send();
    else this.timer ??= setTimeout(() => this.send(), wait);
  }

  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const next = this.latest;
    this.latest = undefined;
    if (!next) return;
    this.lastSentMs = Date.now();
    this.chain = this.chain.then(() => this.ctx.progress(next.value)).catch(() => undefined);
  }

  /** Sends what is pending and resolves when everything sent is written. */
  async flush(): Promise<void> {
    this.send();
    await this.chain;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.latest = undefined;
  }
}

/** Resolves when `signal` aborts or after `ms`, whichever is first. */
function abortedWithin(signal: AbortSignal, ms: number): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: text === '' ? null : (JSON.parse(text) as unknown) };
  } catch {
    return { ok: false };
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
