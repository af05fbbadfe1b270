/**
 * Typed TypeScript client for OrchestratorService: promises for unary calls, async iterators
 * for the streams, a default deadline on every unary call, and waitForResult().
 *
 *   const client = new OrchestratorClient('127.0.0.1:50052');
 *   const { taskId } = await client.submitTask({ taskClass: 'cpu_short', payload: { n: '1' } });
 *   const result = await client.waitForResult(taskId);
 */
import {
  credentials,
  Metadata,
  status as GrpcStatus,
  type CallOptions,
  type ChannelCredentials,
  type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import * as pb from '../gen/orchestrator/v1/orchestrator.js';
import { executorInputToPb, type ExecutorInput } from '../executors/client-executors.js';
import { TaskSubmitStream } from './task-submit-stream.js';
import { CHANNELZ_OFF } from './channelz.js';

export type { ServiceError };
export type { ExecutorInput, ExecutorInputs } from '../executors/client-executors.js';
export { TaskState, ServingStatus, BackoffType, WorkflowRunState, StepState, FailurePolicy, LogStream } from '../gen/orchestrator/v1/orchestrator.js';
export type {
  TaskLogs,
  TaskLogLine,
  TaskResult,
  TaskEvent,
  TaskStatus,
  TaskFailure,
  HealthResponse,
  SubmitTaskResponse,
  WorkflowRun,
  StepRun,
  WorkflowStatusUpdate,
  StartWorkflowRunResponse,
  ClassLimits,
} from '../gen/orchestrator/v1/orchestrator.js';
export type { TaskSummary, ListTasksResponse, RetryTasksResponse, RetryError } from '../gen/orchestrator/v1/orchestrator.js';

/** Which tasks to list, retry or purge; unset fields do not filter. */
export interface TaskFilterInput {
  taskClasses?: string[];
  states?: pb.TaskState[];
  workflowId?: string;
  /** Submitted at or after (ms since the epoch). */
  submittedSinceMs?: number;
  /** Submitted before (ms since the epoch). */
  submittedUntilMs?: number;
}

function toPbFilter(f: TaskFilterInput): pb.TaskFilter {
  return {
    taskClasses: f.taskClasses ?? [],
    states: f.states ?? [],
    workflowId: f.workflowId ?? '',
    submittedSinceMs: f.submittedSinceMs ?? 0,
    submittedUntilMs: f.submittedUntilMs ?? 0,
  };
}
export type { Schedule, ScheduleSpec } from '../gen/orchestrator/v1/orchestrator.js';
export { PoolState } from '../gen/orchestrator/v1/orchestrator.js';
export type { Pool, PoolClass, DrainPoolResponse, WorkflowRunSummary, ListWorkflowRunsResponse } from '../gen/orchestrator/v1/orchestrator.js';

/** Which workflow runs to list; unset fields do not filter. */
export interface RunFilterInput {
  workflowName?: string;
  states?: pb.WorkflowRunState[];
  /** Started at or after (ms since the epoch). */
  startedSinceMs?: number;
  /** Started before (ms since the epoch). */
  startedUntilMs?: number;
}

/** A task to submit. Only taskClass and payload are required. */
export interface TaskInput {
  taskId?: string;
  taskClass: string;
  payload: Record<string, string>;
  priority?: number;
  /** Set by the workflow engine on a run's step tasks: the server refuses it here (INVALID_ARGUMENT). */
  workflowId?: string;
  maxAttempts?: number;
  backoff?: { type?: 'fixed' | 'exponential'; delayMs: number };
  timeoutMs?: number;
  delayMs?: number;
  /** Default: handler "echo". */
  executor?: ExecutorInput;
}

/** A workflow to create: steps with their tasks and dependencies. */
export interface WorkflowInput {
  name: string;
  steps: { stepId: string; task: TaskInput; dependsOn?: string[] }[];
  /** @default "fail_fast" */
  failurePolicy?: 'fail_fast' | 'continue';
  description?: string;
}

/**
 * A schedule to create or (whole) replace: exactly one of `cron` and `everyMs`, and the task it
 * submits each tick (without a taskId: each tick's task is "<scheduleId>.<tick ms>").
 */
export interface ScheduleInput {
  scheduleId: string;
  /** 5 fields, or 6 with seconds first, e.g. "0 30 9 * * 1-5". */
  cron?: string;
  /** IANA time zone of `cron`. @default "UTC" */
  tz?: string;
  /** Interval in ms (at least 100); the first tick comes at once, or at startAtMs. */
  everyMs?: number;
  /** No tick before this time (ms since the epoch). @default now */
  startAtMs?: number;
  /** No tick after this time (ms since the epoch). @default never */
  endAtMs?: number;
  task: Omit<TaskInput, 'taskId'>;
  /** Stored but not firing. @default false */
  paused?: boolean;
}

export function toPbScheduleSpec(s: ScheduleInput): pb.ScheduleSpec {
  return {
    scheduleId: s.scheduleId,
    cron: s.cron ?? '',
    tz: s.tz ?? '',
    everyMs: s.everyMs ?? 0,
    startAtMs: s.startAtMs ?? 0,
    endAtMs: s.endAtMs ?? 0,
    task: toPbTask(s.task),
    paused: s.paused ?? false,
  };
}

const FINAL_RUN_STATES = new Set([
  pb.WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED,
  pb.WorkflowRunState.WORKFLOW_RUN_STATE_FAILED,
  pb.WorkflowRunState.WORKFLOW_RUN_STATE_CANCELLED,
]);

/** TLS to the server: the CA that signed its certificate and, for mutual TLS, this client's own. */
export interface ClientTlsOptions {
  /** PEM CA certificate(s); default: the system's roots. */
  ca?: Buffer | string;
  /** PEM client certificate chain (mutual TLS), with privateKey. */
  certChain?: Buffer | string;
  /** PEM private key of certChain. */
  privateKey?: Buffer | string;
}

export interface OrchestratorClientOptions {
  /** Transport credentials; overrides `tls`. Default: plain TCP, or TLS when `tls` is set. */
  credentials?: ChannelCredentials;
  /** Connect with TLS. */
  tls?: ClientTlsOptions;
  /** Bearer token sent with every call (metadata `authorization: Bearer <token>`). */
  token?: string;
  /** Deadline of unary calls. @default 30000 */
  defaultDeadlineMs?: number;
  /** Largest message sent or received. @default 64 MiB */
  maxMessageBytes?: number;
  /**
   * Extra metadata of each call, asked for per call: e.g. the W3C `traceparent` (and
   * `tracestate`) of the caller's active span, which submissions continue (README "Tracing").
   */
  callMetadata?: () => Record<string, string>;
}

export function toPbTask(t: TaskInput): pb.TaskSpec {
  const backoffType =
    t.backoff?.type === 'fixed'
      ? pb.BackoffType.BACKOFF_TYPE_FIXED
      : t.backoff?.type === 'exponential'
        ? pb.BackoffType.BACKOFF_TYPE_EXPONENTIAL
        : pb.BackoffType.BACKOFF_TYPE_UNSPECIFIED;
  return {
    taskId: t.taskId ?? '',
    taskClass: t.taskClass,
    payload: t.payload,
    priority: t.priority ?? 0,
    workflowId: t.workflowId ?? '',
    maxAttempts: t.maxAttempts ?? 0,
    backoff: t.backoff ? { type: backoffType, delayMs: t.backoff.delayMs } : undefined,
    timeoutMs: t.timeoutMs ?? 0,
    delayMs: t.delayMs ?? 0,
    executor: t.executor === undefined ? undefined : executorInputToPb(t.executor),
  };
}

type Unary<Req, Res> = (req: Req, md: Metadata, opts: Partial<CallOptions>, cb: (err: ServiceError | null, res: Res) => void) => unknown;

const pem = (v: Buffer | string | undefined): Buffer | null => (v === undefined ? null : Buffer.from(v));

/** Channel credentials from `credentials` or `tls` (plain TCP without either); the env-manager's clients use it too. */
export function channelCredentials(opts: Pick<OrchestratorClientOptions, 'credentials' | 'tls'>): ChannelCredentials {
  if (opts.credentials) return opts.credentials;
  if (!opts.tls) return credentials.createInsecure();
  return credentials.createSsl(pem(opts.tls.ca), pem(opts.tls.privateKey), pem(opts.tls.certChain));
}

/**
 * Call metadata carrying a bearer token, when there is one. The token travels as per-call
 * metadata rather than call credentials: grpc-js sends call credentials only over TLS, and a
 * token over plain TCP on a trusted network is allowed.
 */
export function bearerMetadata(token: string | undefined): Metadata {
  const md = new Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return md;
}

export class OrchestratorClient {
  readonly raw: pb.OrchestratorServiceClient;
  private readonly deadlineMs: number;
  private readonly token?: string;
  private readonly callMetadata?: () => Record<string, string>;

  constructor(address: string, opts: OrchestratorClientOptions = {}) {
    const max = opts.maxMessageBytes ?? 64 << 20;
    this.token = opts.token;
    this.callMetadata = opts.callMetadata;
    this.raw = new pb.OrchestratorServiceClient(address, channelCredentials(opts), {
      ...CHANNELZ_OFF,
      'grpc.max_receive_message_length': max,
      'grpc.max_send_message_length': max,
    });
    this.deadlineMs = opts.defaultDeadlineMs ?? 30_000;
  }

  /** Metadata every call carries: the bearer token, when there is one, and the caller's own (callMetadata). */
  private metadata(): Metadata {
    const md = bearerMetadata(this.token);
    for (const [k, v] of Object.entries(this.callMetadata?.() ?? {})) if (k !== 'authorization') md.set(k, v);
    return md;
  }

  private call<Req, Res>(method: Unary<Req, Res>, req: Req, deadlineMs?: number): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(this.raw, req, this.metadata(), { deadline: Date.now() + (deadlineMs ?? this.deadlineMs) }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  health(): Promise<pb.HealthResponse> {
    return this.call(this.raw.health as Unary<pb.HealthRequest, pb.HealthResponse>, {});
  }

  getMetrics(): Promise<pb.GetMetricsResponse> {
    return this.call(this.raw.getMetrics as Unary<pb.GetMetricsRequest, pb.GetMetricsResponse>, {});
  }

  submitTask(task: TaskInput): Promise<pb.SubmitTaskResponse> {
    return this.call(this.raw.submitTask as Unary<pb.SubmitTaskRequest, pb.SubmitTaskResponse>, { task: toPbTask(task) });
  }

  /**
   * Submits tasks over one long-lived call (SubmitTaskStream) instead of a call each: for a
   * client that submits continuously. Each submit() gets SubmitTask's answer or its refusal.
   * One stream serves any number of submit() calls, concurrent or not; close() ends it. A task
   * with no answer within `deadlineMs` (default: the client's defaultDeadlineMs) rejects
   * DEADLINE_EXCEEDED, its outcome unknown, as a unary call past its deadline.
   */
  submitStream(opts: { deadlineMs?: number } = {}): {
    submit(task: TaskInput): Promise<pb.SubmitTaskResponse>;
    close(): Promise<void>;
    cancel(): void;
    readonly unanswered: number;
  } {
    const method = pb.OrchestratorServiceService.submitTaskStream;
    const stream = new TaskSubmitStream(
      () =>
        this.raw.makeBidiStreamRequest(
          method.path,
          (bytes: Buffer) => bytes,
          method.responseDeserialize as (b: Buffer) => pb.SubmitTaskStreamResponse,
          this.metadata(),
        ),
      opts.deadlineMs ?? this.deadlineMs,
    );
    return {
      submit: (task) => stream.submit(toPbTask(task)),
      close: () => stream.close(),
      cancel: () => stream.cancel(),
      get unanswered() {
        return stream.unanswered;
      },
    };
  }

  async submitTasks(tasks: TaskInput[], deadlineMs?: number): Promise<pb.SubmitTaskResponse[]> {
    const res = await this.call(this.raw.submitTasks as Unary<pb.SubmitTasksRequest, pb.SubmitTasksResponse>, { tasks: tasks.map(toPbTask) }, deadlineMs);
    return res.results;
  }

  getTaskStatus(taskId: string): Promise<pb.TaskStatus> {
    return this.call(this.raw.getTaskStatus as Unary<pb.GetTaskStatusRequest, pb.TaskStatus>, { taskId });
  }

  cancelTask(taskId: string, reason = ''): Promise<pb.CancelTaskResponse> {
    return this.call(this.raw.cancelTask as Unary<pb.CancelTaskRequest, pb.CancelTaskResponse>, { taskId, reason });
  }

  /** Final results; iterate with for-await. Breaking out of the loop cancels the call. */
  streamTaskResults(sel: Partial<pb.StreamTaskResultsRequest> = {}): AsyncIterable<pb.TaskResult> & { cancel(): void } {
    const req: pb.StreamTaskResultsRequest = { taskIds: [], workflowId: '', taskClass: '', cursor: '', closeWhenDone: false, scheduleId: '', ...sel };
    return iterate(this.raw.streamTaskResults(req, this.metadata()));
  }

  /** Lifecycle events; iterate with for-await. Breaking out of the loop cancels the call. */
  streamEvents(sel: Partial<pb.StreamEventsRequest> = {}): AsyncIterable<pb.TaskEvent> & { cancel(): void } {
    const req: pb.StreamEventsRequest = { types: [], taskClasses: [], taskIds: [], workflowId: '', cursor: '', scheduleId: '', ...sel };
    return iterate(this.raw.streamEvents(req, this.metadata()));
  }

  getClassLimits(taskClass: string): Promise<pb.ClassLimits> {
    return this.call(this.raw.getClassLimits as Unary<pb.GetClassLimitsRequest, pb.ClassLimits>, { taskClass });
  }

  /** Changes the given limits of a class (0 clears one); running pools apply them at once. */
  setClassLimits(taskClass: string, change: Omit<Partial<pb.SetClassLimitsRequest>, 'taskClass'>): Promise<pb.ClassLimits> {
    const req: pb.SetClassLimitsRequest = {
      taskClass,
      poolConcurrency: change.poolConcurrency,
      globalConcurrency: change.globalConcurrency,
      rateLimitMax: change.rateLimitMax,
      rateLimitDurationMs: change.rateLimitDurationMs,
    };
    return this.call(this.raw.setClassLimits as Unary<pb.SetClassLimitsRequest, pb.ClassLimits>, req);
  }

  pauseClass(taskClass: string): Promise<pb.ClassLimits> {
    return this.call(this.raw.pauseClass as Unary<pb.PauseClassRequest, pb.ClassLimits>, { taskClass });
  }

  resumeClass(taskClass: string): Promise<pb.ClassLimits> {
    return this.call(this.raw.resumeClass as Unary<pb.ResumeClassRequest, pb.ClassLimits>, { taskClass });
  }

  // ---- finding and replaying tasks ----

  /** One page of tasks, newest first. pageSize 0: 100 (at most 1000). Pass nextPageToken back for the next. */
  listTasks(filter: TaskFilterInput = {}, page: { pageSize?: number; pageToken?: string } = {}): Promise<pb.ListTasksResponse> {
    const req: pb.ListTasksRequest = { filter: toPbFilter(filter), pageSize: page.pageSize ?? 0, pageToken: page.pageToken ?? '' };
    return this.call(this.raw.listTasks as Unary<pb.ListTasksRequest, pb.ListTasksResponse>, req);
  }

  /** Every task matching the filter, newest first, page by page. */
  async *allTasks(filter: TaskFilterInput = {}, pageSize = 1_000): AsyncIterable<pb.TaskSummary> {
    let pageToken = '';
    do {
      const page = await this.listTasks(filter, { pageSize, pageToken });
      yield* page.tasks;
      pageToken = page.nextPageToken;
    } while (pageToken);
  }

  /**
   * Runs failed tasks again: the named ones (per-id errors in the response), or every failed one
   * matching a filter. Each gets a new round of `attempts` (1..1000), or of the attempts it was
   * submitted with when that is left out.
   */
  retryTasks(sel: ({ taskIds: string[] } | { filter: TaskFilterInput }) & { attempts?: number }, deadlineMs?: number): Promise<pb.RetryTasksResponse> {
    const req: pb.RetryTasksRequest =
      'taskIds' in sel
        ? { taskIds: sel.taskIds, filter: undefined, attempts: sel.attempts }
        : { taskIds: [], filter: toPbFilter(sel.filter), attempts: sel.attempts };
    return this.call(this.raw.retryTasks as Unary<pb.RetryTasksRequest, pb.RetryTasksResponse>, req, deadlineMs);
  }

  /** Removes finished tasks that ended at least olderThanMs ago; resolves with how many. */
  async purgeTasks(opts: { olderThanMs: number; taskClasses?: string[]; states?: pb.TaskState[] }, deadlineMs?: number): Promise<number> {
    const req: pb.PurgeTasksRequest = { olderThanMs: opts.olderThanMs, taskClasses: opts.taskClasses ?? [], states: opts.states ?? [] };
    return (await this.call(this.raw.purgeTasks as Unary<pb.PurgeTasksRequest, pb.PurgeTasksResponse>, req, deadlineMs)).removed;
  }

  /**
   * A task's captured output: one attempt's lines (attempt 0: the latest), or every attempt's
   * with `allAttempts`. NOT_FOUND for an unknown task.
   */
  getTaskLogs(taskId: string, opts: { attempt?: number; allAttempts?: boolean } = {}): Promise<pb.TaskLogs> {
    const req: pb.GetTaskLogsRequest = { taskId, attempt: opts.attempt ?? 0, allAttempts: opts.allAttempts ?? false };
    return this.call(this.raw.getTaskLogs as Unary<pb.GetTaskLogsRequest, pb.TaskLogs>, req);
  }

  /**
   * A task's log lines so far, then live ones, until the task ends (attempt 0: from the latest
   * attempt on; a named attempt: until it is over). Breaking out of the loop cancels the call.
   */
  streamTaskLogs(taskId: string, attempt = 0): AsyncIterable<pb.TaskLogLine> & { cancel(): void } {
    return iterate(this.raw.streamTaskLogs({ taskId, attempt }, this.metadata()));
  }

  /** Stores the workflow as a new version of its name. */
  createWorkflow(w: WorkflowInput): Promise<pb.CreateWorkflowResponse> {
    const req: pb.CreateWorkflowRequest = {
      name: w.name,
      description: w.description ?? '',
      failurePolicy: w.failurePolicy === 'continue' ? pb.FailurePolicy.FAILURE_POLICY_CONTINUE : pb.FailurePolicy.FAILURE_POLICY_FAIL_FAST,
      steps: w.steps.map((s) => ({ stepId: s.stepId, task: toPbTask(s.task), dependsOn: s.dependsOn ?? [] })),
    };
    return this.call(this.raw.createWorkflow as Unary<pb.CreateWorkflowRequest, pb.CreateWorkflowResponse>, req);
  }

  /** Starts a run (version 0: the latest). Idempotent on runId. */
  startWorkflowRun(r: { name: string; inputs?: Record<string, string>; runId?: string; version?: number }): Promise<pb.StartWorkflowRunResponse> {
    const req: pb.StartWorkflowRunRequest = { name: r.name, inputs: r.inputs ?? {}, runId: r.runId ?? '', version: r.version ?? 0 };
    return this.call(this.raw.startWorkflowRun as Unary<pb.StartWorkflowRunRequest, pb.StartWorkflowRunResponse>, req);
  }

  getWorkflowRun(runId: string): Promise<pb.WorkflowRun> {
    return this.call(this.raw.getWorkflowRun as Unary<pb.GetWorkflowRunRequest, pb.WorkflowRun>, { runId });
  }

  cancelWorkflowRun(runId: string, reason = ''): Promise<pb.CancelWorkflowRunResponse> {
    return this.call(this.raw.cancelWorkflowRun as Unary<pb.CancelWorkflowRunRequest, pb.CancelWorkflowRunResponse>, { runId, reason });
  }

  /**
   * The run as it stands, then every change until it ends; iterate with for-await. `runOnly`:
   * the run's own updates alone (its state, then each change of it), none of its steps'.
   */
  streamWorkflowStatus(runId: string, opts: { runOnly?: boolean } = {}): AsyncIterable<pb.WorkflowStatusUpdate> & { cancel(): void } {
    return iterate(this.raw.streamWorkflowStatus({ runId, runOnly: opts.runOnly ?? false }, this.metadata()));
  }

  /** Resolves with the whole run once it has ended (at once when it already has). */
  async waitForRun(runId: string, opts: { timeoutMs?: number } = {}): Promise<pb.WorkflowRun> {
    // The run's own updates only: a step's would cost both sides for nothing here.
    const stream = this.streamWorkflowStatus(runId, { runOnly: true });
    const timer = opts.timeoutMs ? setTimeout(() => stream.cancel(), opts.timeoutMs) : undefined;
    let ended = false;
    try {
      // Read to the end the server gives the stream when the run ends, rather than cancel it
      // (see waitForResult: resets at a high rate cost the whole connection).
      for await (const u of stream) if (FINAL_RUN_STATES.has(u.runState)) ended = true;
    } finally {
      clearTimeout(timer);
      stream.cancel();
    }
    if (!ended) throw new Error(`run ${runId} did not end${opts.timeoutMs ? ` within ${opts.timeoutMs} ms` : ''}`);
    return this.getWorkflowRun(runId);
  }

  /**
   * Resolves with the task's final result (at once when it has already finished). A front end
   * that stops or restarts meanwhile ends the stream UNAVAILABLE: the wait asks again (the task
   * lives in Redis, not in the front end), with a backoff up to 2 s, until `timeoutMs`.
   */
  async waitForResult(taskId: string, opts: { timeoutMs?: number } = {}): Promise<pb.TaskResult> {
    const deadline = opts.timeoutMs ? Date.now() + opts.timeoutMs : Infinity;
    for (let backoffMs = 100; ; backoffMs = Math.min(backoffMs * 2, 2_000)) {
      const stream = this.streamTaskResults({ taskIds: [taskId], closeWhenDone: true });
      const timer = deadline < Infinity ? setTimeout(() => stream.cancel(), Math.max(0, deadline - Date.now())) : undefined;
      try {
        // Read on to the end the server gives the stream once the task's result is out
        // (closeWhenDone): cancelling it instead sends the server a reset per call, and a
        // client resetting hundreds of streams a second has its whole connection closed by
        // Node's HTTP/2 rapid-reset protection, with every other call on it.
        let result: pb.TaskResult | undefined;
        for await (const r of stream) result ??= r;
        if (result) return result;
        break;
      } catch (err) {
        if ((err as ServiceError).code !== GrpcStatus.UNAVAILABLE || Date.now() + backoffMs >= deadline) throw err;
      } finally {
        clearTimeout(timer);
        stream.cancel();
      }
      await new Promise((r) => setTimeout(r, backoffMs));
    }
    throw new Error(`no result for task ${taskId}${opts.timeoutMs ? ` within ${opts.timeoutMs} ms` : ''}`);
  }

  close(): void {
    this.raw.close();
  }

  // ---------- schedules ----------

  /** Stores a schedule and starts its ticks. Idempotent with the same spec; ALREADY_EXISTS with another. */
  createSchedule(s: ScheduleInput): Promise<pb.Schedule> {
    return this.call(this.raw.createSchedule as Unary<pb.CreateScheduleRequest, pb.Schedule>, { schedule: toPbScheduleSpec(s) });
  }

  getSchedule(scheduleId: string): Promise<pb.Schedule> {
    return this.call(this.raw.getSchedule as Unary<pb.GetScheduleRequest, pb.Schedule>, { scheduleId });
  }

  async listSchedules(): Promise<pb.Schedule[]> {
    return (await this.call(this.raw.listSchedules as Unary<pb.ListSchedulesRequest, pb.ListSchedulesResponse>, {})).schedules;
  }

  /** Replaces the whole spec of an existing schedule (NOT_FOUND when unknown). */
  updateSchedule(s: ScheduleInput): Promise<pb.Schedule> {
    return this.call(this.raw.updateSchedule as Unary<pb.UpdateScheduleRequest, pb.Schedule>, { schedule: toPbScheduleSpec(s) });
  }

  /** Stops and removes a schedule; the tasks it submitted stay. */
  async deleteSchedule(scheduleId: string): Promise<void> {
    await this.call(this.raw.deleteSchedule as Unary<pb.DeleteScheduleRequest, pb.DeleteScheduleResponse>, { scheduleId });
  }

  // ---- pools and runs ----

  /** Live pools, then those stopped or lost within pool.goneListedMs. */
  async listPools(): Promise<pb.Pool[]> {
    return (await this.call(this.raw.listPools as Unary<pb.ListPoolsRequest, pb.ListPoolsResponse>, {})).pools;
  }

  /** Asks a live pool to take no new tasks and finish its running ones (then exit, with exitWhenDrained). */
  drainPool(poolId: string, exitWhenDrained = false): Promise<pb.DrainPoolResponse> {
    return this.call(this.raw.drainPool as Unary<pb.DrainPoolRequest, pb.DrainPoolResponse>, { poolId, exitWhenDrained });
  }

  /** Undoes a drain (not one with exitWhenDrained): the pool takes tasks again. */
  resumePool(poolId: string): Promise<pb.ResumePoolResponse> {
    return this.call(this.raw.resumePool as Unary<pb.ResumePoolRequest, pb.ResumePoolResponse>, { poolId });
  }

  /** One page of workflow runs, newest first. pageSize 0: 50 (at most 500). Pass nextPageToken back for the next. */
  listWorkflowRuns(filter: RunFilterInput = {}, page: { pageSize?: number; pageToken?: string } = {}): Promise<pb.ListWorkflowRunsResponse> {
    const req: pb.ListWorkflowRunsRequest = {
      workflowName: filter.workflowName ?? '',
      states: filter.states ?? [],
      startedSinceMs: filter.startedSinceMs ?? 0,
      startedUntilMs: filter.startedUntilMs ?? 0,
      pageSize: page.pageSize ?? 0,
      pageToken: page.pageToken ?? '',
    };
    return this.call(this.raw.listWorkflowRuns as Unary<pb.ListWorkflowRunsRequest, pb.ListWorkflowRunsResponse>, req);
  }
}

function iterate<T>(call: ClientReadableStream<T>): AsyncIterable<T> & { cancel(): void } {
  let cancelled = false;
  return {
    cancel() {
      cancelled = true;
      call.cancel();
    },
    async *[Symbol.asyncIterator]() {
      try {
        for await (const msg of call as AsyncIterable<T>) yield msg;
      } catch (err) {
        if (cancelled && (err as ServiceError).code === 1) return;
        throw err;
      } finally {
        call.cancel();
      }
    },
  };
}
