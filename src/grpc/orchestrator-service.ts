/**
 * gRPC handlers of orchestrator.v1.OrchestratorService. Each maps the request to one domain call
 * and the result, or the error (src/grpc/status.ts), back: no logic lives here.
 */
import type { Metadata, ServerUnaryCall, ServerWritableStream, sendUnaryData, UntypedHandleCall } from '@grpc/grpc-js';
import type { Logger } from '../logging/logger.js';
import type { FeedSubscriptions, Cursored, StreamContext } from '../feeds/feed-subscriptions.js';
import type { StreamAdmission } from './stream-admission.js';
import type { SubmitAdmission } from './submit-admission.js';
import type { SystemStatus } from '../monitoring/system-status.js';
import type { ClassControls } from '../tasks/class-controls.js';
import type { TaskCanceller } from '../tasks/task-canceller.js';
import type { TaskStatusReader } from '../tasks/task-status.js';
import type { SubmitOutcome, TaskSubmitter } from '../tasks/submitter.js';
import { invalidArgument } from '../errors/errors.js';
import type * as pb from '../gen/orchestrator/v1/orchestrator.js';
import type { WorkflowStore } from '../workflows/workflow-store.js';
import type { StartRunOutcome, WorkflowRuns } from '../workflows/workflow-runs.js';
import type { WorkflowStatusReader } from '../workflows/workflow-status.js';
import { toPbLogLine, toPbLogs } from './log-mapping.js';
import { toPbEvent, toPbHealth, toPbResult, toPbState, toPbStatus, toSubmission } from './mapping.js';
import { toPbSummary, toStates, toStatusName, toTaskFilter } from './mapping.js';
import type { TaskLister } from '../tasks/task-list.js';
import type { TaskRetrier } from '../tasks/task-retry.js';
import type { TaskRetention } from '../tasks/task-retention.js';
import type { TaskLogReader } from '../tasks/task-logs.js';
import { toPbRun, toPbRunState, toPbUpdate, toWorkflowInput } from './workflow-mapping.js';
import { toServiceError } from './status.js';
import { submitStream } from './submit-stream.js';
import type { ScheduleService } from '../schedules/schedule-service.js';
import { toPbSchedule, toScheduleSpec } from './schedule-mapping.js';
import { Tracing } from '../tracing/tracing.js';
import { ATTR, SPAN } from '../tracing/span-names.js';
import { withCallSpan } from './call-tracing.js';
import type { PoolRegistry } from '../pools/pool-registry.js';
import type { WorkflowRunList } from '../workflows/run-list.js';
import { toPbPool, toPbRunSummary, toRunListFilter } from './pool-run-mapping.js';
import { ReplicaWait } from '../redis/replica-wait.js';

export interface OrchestratorServices {
  submitter: TaskSubmitter;
  status: TaskStatusReader;
  canceller: TaskCanceller;
  feeds: FeedSubscriptions;
  /** Caps on concurrent server streams (grpc.maxStreams, grpc.maxStreamsPerCaller). */
  streams: StreamAdmission;
  /** The memory high-water mark and submit rate limits of submissions; absent: none. */
  submissions?: SubmitAdmission;
  system: SystemStatus;
  workflows: { store: WorkflowStore; runs: WorkflowRuns; status: WorkflowStatusReader };
  classes: ClassControls;
  logger: Logger;
  /** ListTasks, RetryTasks, PurgeTasks. */
  taskOps: { lister: TaskLister; retrier: TaskRetrier; retention: TaskRetention };
  schedules: ScheduleService;
  /** Spans of submissions (src/tracing/). @default Tracing.off */
  tracing?: Tracing;
  /** GetTaskLogs, StreamTaskLogs. */
  logs: TaskLogReader;
  /** ListPools, DrainPool. */
  pools: PoolRegistry;
  /** ListWorkflowRuns. */
  runList: WorkflowRunList;
  /**
   * The replicas the writes of every call that changes Redis must reach before its reply
   * (redis.waitReplicas; README "Redis Cluster" lists them). @default ReplicaWait.off
   */
  replicas?: ReplicaWait;
}

function requireRunId(runId: string): string {
  if (!runId) throw invalidArgument('run_id', 'is required');
  return runId;
}

function requireScheduleId(id: string): string {
  if (!id) throw invalidArgument('schedule_id', 'is required');
  return id;
}

export function unary<Req, Res>(fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    let answer: Promise<Res>;
    try {
      answer = fn(call.request, call);
    } catch (err) {
      // A request mapping that throws before fn returns its promise is answered with its own
      // status too, not grpc-js's UNKNOWN.
      answer = Promise.reject(err);
    }
    answer.then(
      (res) => answerWith(() => callback(null, res)),
      (err: unknown) => answerWith(() => callback(toServiceError(err))),
    );
  };
}

/**
 * Answers a call. The request has had its answer (or a status) whatever happens in there: a throw
 * must not become an unhandled rejection, which would end the process.
 */
function answerWith(answer: () => void): void {
  try {
    answer();
  } catch {
    // nothing left to tell the caller
  }
}

/**
 * A submission's handler behind `admission` (when given): a call it refuses is answered with
 * its status before the handler sees it. `tasks` counts what the call submits.
 */
export function admitted<Req, Res>(
  admission: SubmitAdmission | undefined,
  tasks: (req: Req) => number,
  handler: (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void,
) {
  if (!admission) return handler;
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    try {
      admission.admit(call, tasks(call.request));
    } catch (err) {
      callback(toServiceError(err));
      return;
    }
    handler(call, callback);
  };
}

/**
 * Pipes an async iterable into a server stream, with backpressure and client cancel. The call
 * first takes a slot of `admission`, when given (RESOURCE_EXHAUSTED when none is left) and frees it when it
 * ends however it ends. `ctx.fail` ends the call at once with a status, even while it waits for
 * the client to read (a subscriber that fell behind).
 */
export function serverStream<Req, Item, Res>(
  log: Logger,
  admission: StreamAdmission | undefined,
  source: (req: Req, ctx: StreamContext) => AsyncIterable<Cursored<Item>>,
  toMessage: (cursor: string, item: Item) => Res,
) {
  return (call: ServerWritableStream<Req, Res>) => {
    let release = () => undefined as void;
    const ac = new AbortController();
    let ended = false;
    const endWith = (err: unknown) => {
      if (ended || ac.signal.aborted) return;
      ended = true;
      ac.abort();
      call.emit('error', toServiceError(err));
    };
    try {
      if (admission) release = admission.admit(call, endWith);
    } catch (err) {
      call.emit('error', toServiceError(err));
      return;
    }
    call.on('cancelled', () => ac.abort());
    call.on('close', () => ac.abort());
    const ctx: StreamContext = { signal: ac.signal, fail: endWith };
    (async () => {
      for await (const { cursor, item } of source(call.request, ctx)) {
        if (!call.write(toMessage(cursor, item))) {
          await new Promise<void>((resolve) => {
            const done = () => {
              call.off('drain', done);
              ac.signal.removeEventListener('abort', done);
              resolve();
            };
            call.once('drain', done);
            ac.signal.addEventListener('abort', done, { once: true });
          });
        }
        if (ac.signal.aborted) return;
      }
      if (!ac.signal.aborted) call.end();
    })()
      .catch((err) => {
        if (ac.signal.aborted) return;
        log.debug({ err }, 'stream ended with an error');
        endWith(err);
      })
      // As in unary(): nothing of one stream may become an unhandled rejection.
      .catch((err) => log.warn({ err }, 'stream could not be ended with its status'))
      .finally(() => release());
  };
}

export function orchestratorHandlers(s: OrchestratorServices): Record<string, UntypedHandleCall> {
  const log = s.logger.child({ component: 'grpc' });
  const tracing = s.tracing ?? Tracing.off;
  const replicas = s.replicas ?? ReplicaWait.off;
  /** One task, as SubmitTask and each request of SubmitTaskStream submit it. */
  const submitOne = async (spec: pb.TaskSpec | undefined, metadata: Metadata, method = 'SubmitTask'): Promise<pb.SubmitTaskResponse> => {
    const task = toSubmission(spec, 'task');
    const o = tracing.enabled
      ? await withCallSpan<SubmitOutcome>(
          tracing,
          metadata,
          {
            name: SPAN.submit,
            method,
            attributes: { [ATTR.taskClass]: task.taskClass },
            describe: (r, span) => span.setAttributes({ [ATTR.taskId]: r.taskId, [ATTR.created]: r.created }),
          },
          (trace) => replicas.confirm((w) => s.submitter.submit(trace ? { ...task, trace } : task, w)),
        )
      : // Off: no span, nor its options, made for every call.
        await replicas.confirm((w) => s.submitter.submit(task, w));
    const state = o.created ? (o.scheduled ? 'scheduled' : 'queued') : (await s.status.get(o.taskId)).state;
    return { taskId: o.taskId, created: o.created, state: toPbState(state) };
  };
  const handlers = {
    health: unary<pb.HealthRequest, pb.HealthResponse>(async () => toPbHealth(await s.system.health())),
    getMetrics: unary<pb.GetMetricsRequest, pb.GetMetricsResponse>(async () => ({ metrics: await s.system.metrics(), collectedAtMs: Date.now() })),
    submitTask: admitted(
      s.submissions,
      () => 1,
      unary<pb.SubmitTaskRequest, pb.SubmitTaskResponse>((req, call) => submitOne(req.task, call.metadata)),
    ),
    submitTaskStream: submitStream({
      log,
      streams: s.streams,
      submissions: s.submissions,
      submit: (task, metadata) => submitOne(task, metadata, 'SubmitTaskStream'),
    }),
    submitTasks: admitted(
      s.submissions,
      // A batch over grpc.maxBatchSize is refused by the submitter, with its own message, and takes nothing.
      (req) => (req.tasks.length > s.submitter.maxBatchSize ? 0 : req.tasks.length),
      unary<pb.SubmitTasksRequest, pb.SubmitTasksResponse>(async (req, call) => {
        const tasks = req.tasks.map((t, i) => toSubmission(t, `tasks[${i}]`));
        // One span for the batch, however large: every task carries it and its attempts are its children.
        const outcomes = await withCallSpan(
          tracing,
          call.metadata,
          {
            name: SPAN.submit,
            method: 'SubmitTasks',
            attributes: { [ATTR.batchSize]: tasks.length },
          },
          (trace) => replicas.confirm((w) => s.submitter.submitMany(trace ? tasks.map((t) => ({ ...t, trace })) : tasks, w)),
        );
        return { results: outcomes.map((o) => ({ taskId: o.taskId, created: o.created, state: toPbState(o.scheduled ? 'scheduled' : 'queued') })) };
      }),
    ),
    getTaskStatus: unary<pb.GetTaskStatusRequest, pb.TaskStatus>(async (req) => {
      if (!req.taskId) throw invalidArgument('task_id', 'is required');
      return toPbStatus(await s.status.get(req.taskId));
    }),
    cancelTask: unary<pb.CancelTaskRequest, pb.CancelTaskResponse>(async (req) => {
      if (!req.taskId) throw invalidArgument('task_id', 'is required');
      return { taskId: req.taskId, state: toPbState(await replicas.confirm((w) => s.canceller.cancel(req.taskId, req.reason, w))) };
    }),
    streamEvents: serverStream(
      log,
      s.streams,
      (req: pb.StreamEventsRequest, ctx) =>
        s.feeds.events(
          { types: req.types, taskClasses: req.taskClasses, taskIds: req.taskIds, workflowId: req.workflowId, scheduleId: req.scheduleId },
          req.cursor,
          ctx,
        ),
      toPbEvent,
    ),
    streamTaskResults: serverStream(
      log,
      s.streams,
      (req: pb.StreamTaskResultsRequest, ctx) =>
        s.feeds.results(
          { taskIds: req.taskIds, workflowId: req.workflowId, taskClass: req.taskClass, closeWhenDone: req.closeWhenDone, scheduleId: req.scheduleId },
          req.cursor,
          ctx,
        ),
      toPbResult,
    ),
    getClassLimits: unary<pb.GetClassLimitsRequest, pb.ClassLimits>((req) => s.classes.get(req.taskClass)),
    setClassLimits: unary<pb.SetClassLimitsRequest, pb.ClassLimits>(({ taskClass, ...change }) => replicas.confirm((w) => s.classes.set(taskClass, change, w))),
    pauseClass: unary<pb.PauseClassRequest, pb.ClassLimits>((req) => replicas.confirm((w) => s.classes.pause(req.taskClass, w))),
    resumeClass: unary<pb.ResumeClassRequest, pb.ClassLimits>((req) => replicas.confirm((w) => s.classes.resume(req.taskClass, w))),
    createWorkflow: unary<pb.CreateWorkflowRequest, pb.CreateWorkflowResponse>((req) => {
      const input = toWorkflowInput(req);
      return replicas.confirm((w) => s.workflows.store.create(input, w));
    }),
    // A run counts as one: its steps are released later, by the engine, and are never refused.
    startWorkflowRun: admitted(
      s.submissions,
      () => 1,
      unary<pb.StartWorkflowRunRequest, pb.StartWorkflowRunResponse>(async (req, call) => {
        const o = await withCallSpan<StartRunOutcome>(
          tracing,
          call.metadata,
          {
            name: SPAN.workflowRun,
            method: 'StartWorkflowRun',
            attributes: { [ATTR.workflowName]: req.name.slice(0, 200) },
            describe: (r, span) => span.setAttributes({ [ATTR.runId]: r.runId, [ATTR.created]: r.created }),
          },
          (trace) => replicas.confirm((w) => s.workflows.runs.start({ name: req.name, version: req.version, inputs: req.inputs, runId: req.runId, trace }, w)),
        );
        return { ...o, state: toPbRunState(o.state) };
      }),
    ),
    getWorkflowRun: unary<pb.GetWorkflowRunRequest, pb.WorkflowRun>(async (req) => toPbRun(await s.workflows.status.get(requireRunId(req.runId)))),
    cancelWorkflowRun: unary<pb.CancelWorkflowRunRequest, pb.CancelWorkflowRunResponse>(async (req) => ({
      runId: req.runId,
      state: toPbRunState(await replicas.confirm((w) => s.workflows.runs.cancel(requireRunId(req.runId), req.reason, w))),
    })),
    streamWorkflowStatus: serverStream(
      log,
      s.streams,
      (req: pb.StreamWorkflowStatusRequest, ctx) => s.workflows.status.watch(requireRunId(req.runId), ctx, { runOnly: req.runOnly }),
      toPbUpdate,
    ),
    // ---- finding and replaying tasks ----
    listTasks: unary<pb.ListTasksRequest, pb.ListTasksResponse>(async (req) => {
      const page = await s.taskOps.lister.list(toTaskFilter(req.filter), req.pageSize, req.pageToken);
      return { tasks: page.tasks.map(toPbSummary), nextPageToken: page.nextPageToken };
    }),
    retryTasks: unary<pb.RetryTasksRequest, pb.RetryTasksResponse>(async (req) => {
      if (req.taskIds.length && req.filter) throw invalidArgument('filter', 'give task_ids or filter, not both');
      if (!req.taskIds.length && !req.filter) throw invalidArgument('task_ids', 'give task_ids or a filter (an empty filter: every failed task)');
      const o = await replicas.confirm((w) =>
        req.taskIds.length
          ? s.taskOps.retrier.retryIds(req.taskIds, req.attempts, w)
          : s.taskOps.retrier.retryMatching(toTaskFilter(req.filter), req.attempts, w),
      );
      return {
        retried: o.retried,
        errors: o.errors.map((e) => ({ taskId: e.taskId, code: toStatusName(e.code), message: e.message })),
        more: o.more ?? false,
      };
    }),
    purgeTasks: unary<pb.PurgeTasksRequest, pb.PurgeTasksResponse>(async (req) => ({
      removed: await replicas.confirm((w) =>
        s.taskOps.retention.purge({ olderThanMs: req.olderThanMs, taskClasses: req.taskClasses, states: toStates(req.states, 'states') }, w),
      ),
    })),
    // Task logs.
    getTaskLogs: unary<pb.GetTaskLogsRequest, pb.TaskLogs>(async (req) => toPbLogs(await s.logs.get(req.taskId, req.attempt, req.allAttempts))),
    streamTaskLogs: serverStream(log, s.streams, (req: pb.StreamTaskLogsRequest, ctx) => s.logs.follow(req.taskId, req.attempt, ctx), toPbLogLine),
    // Schedules.
    createSchedule: admitted(
      s.submissions,
      () => 1,
      unary<pb.CreateScheduleRequest, pb.Schedule>(async (req) => {
        const spec = toScheduleSpec(req.schedule, 'schedule');
        return toPbSchedule(await replicas.confirm((w) => s.schedules.create(spec, w)));
      }),
    ),
    getSchedule: unary<pb.GetScheduleRequest, pb.Schedule>(async (req) => toPbSchedule(await s.schedules.get(requireScheduleId(req.scheduleId)))),
    listSchedules: unary<pb.ListSchedulesRequest, pb.ListSchedulesResponse>(async () => ({ schedules: (await s.schedules.list()).map(toPbSchedule) })),
    updateSchedule: unary<pb.UpdateScheduleRequest, pb.Schedule>(async (req) => {
      const spec = toScheduleSpec(req.schedule, 'schedule');
      return toPbSchedule(await replicas.confirm((w) => s.schedules.update(spec, w)));
    }),
    deleteSchedule: unary<pb.DeleteScheduleRequest, pb.DeleteScheduleResponse>(async (req) => {
      const id = requireScheduleId(req.scheduleId);
      await replicas.confirm((w) => s.schedules.delete(id, w));
      return { scheduleId: req.scheduleId };
    }),
    // Pools and runs.
    listPools: unary<pb.ListPoolsRequest, pb.ListPoolsResponse>(async () => ({ pools: (await s.pools.list()).map(toPbPool) })),
    drainPool: unary<pb.DrainPoolRequest, pb.DrainPoolResponse>(async (req) => ({
      poolId: req.poolId,
      ...(await replicas.confirm((w) => s.pools.drain(req.poolId, req.exitWhenDrained, w))),
    })),
    resumePool: unary<pb.ResumePoolRequest, pb.ResumePoolResponse>(async (req) => ({
      poolId: req.poolId,
      ...(await replicas.confirm((w) => s.pools.resume(req.poolId, w))),
    })),
    listWorkflowRuns: unary<pb.ListWorkflowRunsRequest, pb.ListWorkflowRunsResponse>(async (req) => {
      const page = await s.runList.list(toRunListFilter(req), req.pageSize, req.pageToken);
      return { runs: page.runs.map(toPbRunSummary), nextPageToken: page.nextPageToken };
    }),
  } satisfies Record<keyof pb.OrchestratorServiceServer, unknown>;
  return handlers as unknown as Record<string, UntypedHandleCall>;
}
