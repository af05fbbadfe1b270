/**
 * Workflow runs: start, advance, cancel and read them. All run state lives in Redis and changes
 * only through the store's run scripts (src/store/workflows/, src/store/lua/workflows/): every
 * change of a run's or a step's state happens inside one of them, together with its event, so
 * a reader that takes a snapshot and the stream's last id in one MULTI sees a consistent
 * picture, two orchestrators driving the same run can never both release a step, any
 * orchestrator process can carry on a run that another started, and a run survives the process
 * that started it.
 *
 * Step life: pending -> releasing (its dependencies succeeded: exactly one caller got it back
 * and submits its task) -> queued (the task is in its queue) -> a final state. A caller that
 * dies while releasing leaves the step in the releasing zset, where the engine's sweep finds it.
 *
 * Advancing: when a step's task reaches a final state, the pool (or whoever wrote the outcome)
 * also appends it to the workflow inbox; the engine (workflow-engine.ts) hands it to
 * stepFinished(), which records it and releases the steps whose dependencies have all succeeded.
 * Released steps get their references resolved (templates.ts) and their tasks submitted with the
 * id "<run_id>.<step_id>", which the task index makes idempotent.
 *
 * On a single Redis a chain skips the engine: start() stages, for each step whose direct
 * dependents all depend on it alone and need no step's result, their rendered tasks (staged());
 * the pool's finish of that step's success applies it with step-done's logic, adds those tasks
 * and queues their steps, and writes no inbox entry (src/store/lua/includes/staged-step.lua).
 * Whatever the finish does not apply that way goes to the inbox as above.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis/redis-client.js';
import type { Keys } from '../store/keys.js';
import type { Logger } from '../logging/logger.js';
import { OrchestratorError, invalidArgument } from '../errors/errors.js';
import type { TaskSubmitter } from '../tasks/submitter.js';
import type { WrittenKeys } from '../redis/replica-wait.js';
import type { TaskCanceller } from '../tasks/task-canceller.js';
import type { ResolvedTask, TaskSubmission } from '../tasks/task-spec.js';
import type { TaskResultRecord } from '../store/codecs/feed-format.js';
import { mapTemplatedStrings, RUN_ID_RE, stepIdOf, stepTaskId, templatedStrings, type FailurePolicy, type WorkflowPlan } from './workflow-definition.js';
import type { WorkflowStore } from './workflow-store.js';
import { CancelRunCode, RetakeCode, StartRunCode, StepDoneCode } from '../store/codes.js';
import { cancelRun } from '../store/workflows/cancel-run.js';
import { markQueued } from '../store/workflows/mark-queued.js';
import { requestCancel } from '../store/tasks/request-cancel.js';
import { retakeStep } from '../store/workflows/retake-step.js';
import { startRun } from '../store/workflows/start-run.js';
import { stepDone, type StepDoneReply } from '../store/workflows/step-done.js';
import type { SubmitEntry } from '../store/tasks/submit-tasks.js';
import { setRunTrace } from '../store/workflows/set-run-trace.js';
import { stagedStep, type StagedStep } from '../store/workflows/staged-steps.js';
import { stepOutcomeOf, type StepOutcome } from '../store/codecs/step-outcome.js';
import { renderTemplate, TemplateError, templateRefs, type TemplateContext } from './templates.js';
import { parseCarrier, type TraceCarrier } from '../tracing/trace-context.js';
import type { Tracing } from '../tracing/tracing.js';
import { ATTR, SPAN } from '../tracing/span-names.js';

export type RunState = 'running' | 'succeeded' | 'failed' | 'cancelled';
/** Step states as stored; `releasing` reads as pending to clients. */
export type StoredStepState = 'pending' | 'releasing' | 'queued' | 'succeeded' | 'failed' | 'cancelled' | 'skipped';

/** A final step's outcome as stored (the outcomes hash): src/store/codecs/step-outcome.ts. */
export type { StepOutcome } from '../store/codecs/step-outcome.js';

export interface StartRunRequest {
  name: string;
  /** 0: the latest version. */
  version?: number;
  inputs: Record<string, string>;
  /** Generated when empty. */
  runId?: string;
  /** The StartWorkflowRun call's span (tracing on only): the run's steps are its children. Not content (not in the digest). */
  trace?: TraceCarrier;
}

export interface StartRunOutcome {
  runId: string;
  version: number;
  created: boolean;
  state: RunState;
}

/** What a run knows about itself (the run hash). */
export interface RunHeader {
  runId: string;
  name: string;
  version: number;
  failurePolicy: FailurePolicy;
  inputs: Record<string, string>;
  state: RunState;
  startedAtMs: number;
  finishedAtMs: number;
  stopReason: string;
  /** The span of the call that started the run, when tracing was on then. */
  trace?: TraceCarrier;
}

export interface WorkflowRunsOptions {
  redis: RedisClient;
  keys: Keys;
  store: WorkflowStore;
  submitter: TaskSubmitter;
  canceller: TaskCanceller;
  logger: Logger;
  eventsMaxLen: number;
  /** How long a finished run's state is kept. */
  runRetentionMs: number;
  /** Largest total size of a run's inputs, in bytes of names plus values. */
  maxInputBytes: number;
  /** Spans of released steps (src/tracing/). @default Tracing.off */
  tracing?: Tracing;
}

/** The workflow inbox entry a step's outcome came from (src/workflows/workflow-engine.ts). */
export interface InboxEntry {
  key: string;
  group: string;
  entry: string;
}

export interface StepFinished {
  /** Whether the outcome's inbox entry was acknowledged with it (single Redis, nothing to cancel). */
  acked: boolean;
}

/** A released step with its task resolved, ready to submit. */
interface PreparedStep {
  stepId: string;
  task: ResolvedTask;
}

const isAlreadyExists = (err: unknown): boolean => err instanceof OrchestratorError && err.code === 'already_exists';

/** Tasks submitted per claim script call when a wide layer is released. */
const SUBMIT_CHUNK = 500;
/** Run headers cached (they never change, but for state). */
const HEADER_CACHE = 10_000;

function digestOf(req: StartRunRequest): string {
  const inputs = Object.keys(req.inputs)
    .sort()
    .map((k) => [k, req.inputs[k]]);
  return createHash('sha1')
    .update(JSON.stringify([req.name, req.version ?? 0, inputs]))
    .digest('base64url');
}

export function parseHeader(runId: string, h: Record<string, string>): RunHeader {
  return {
    runId,
    name: h.name ?? '',
    version: Number(h.version ?? 0),
    failurePolicy: (h.policy ?? 'fail_fast') as FailurePolicy,
    inputs: JSON.parse(h.inputs ?? '{}') as Record<string, string>,
    state: (h.state ?? 'running') as RunState,
    startedAtMs: Number(h.started_at ?? 0),
    finishedAtMs: Number(h.finished_at ?? 0),
    stopReason: h.stop_reason ?? '',
    // Redis can be written by others: a malformed value is dropped (parseCarrier never throws).
    ...(h.traceparent ? { trace: parseCarrier(h.traceparent, h.tracestate) } : {}),
  };
}

export function parseOutcome(json: string | undefined | null): StepOutcome | undefined {
  if (!json) return undefined;
  try {
    return JSON.parse(json) as StepOutcome;
  } catch {
    return undefined;
  }
}

export class WorkflowRuns {
  private readonly scripts: {
    start: ReturnType<typeof startRun>;
    stepDone: ReturnType<typeof stepDone>;
    markQueued: ReturnType<typeof markQueued>;
    cancel: ReturnType<typeof cancelRun>;
    retake: ReturnType<typeof retakeStep>;
  };
  private readonly headers = new Map<string, { header: RunHeader; plan: WorkflowPlan }>();
  private readonly log: Logger;
  /** A cancel mark in a class's cancel hash, for a step task that may not exist yet (cluster). */
  private readonly requestCancel: ReturnType<typeof requestCancel>;

  constructor(private readonly opts: WorkflowRunsOptions) {
    this.log = opts.logger.child({ component: 'workflows' });
    const { redis, keys } = opts;
    const runOpts = { eventsMaxLen: opts.eventsMaxLen, runRetentionMs: opts.runRetentionMs };
    this.scripts = {
      start: startRun(redis, keys, runOpts),
      stepDone: stepDone(redis, keys, runOpts),
      markQueued: markQueued(redis, keys, runOpts),
      cancel: cancelRun(redis, keys, runOpts),
      retake: retakeStep(redis, keys, runOpts),
    };
    this.requestCancel = requestCancel(redis, keys);
  }

  /** `written`: where a caller's acknowledgement notes what was written (src/redis/replica-wait.ts). */
  async start(req: StartRunRequest, written?: WrittenKeys): Promise<StartRunOutcome> {
    if (!req.name) throw invalidArgument('name', 'is required');
    const runId = req.runId || randomUUID();
    if (!RUN_ID_RE.test(runId)) throw invalidArgument('run_id', `"${runId.slice(0, 80)}" must be 1-64 characters of A-Z a-z 0-9 _ -`);
    if (!Number.isInteger(req.version ?? 0) || (req.version ?? 0) < 0) throw invalidArgument('version', 'must be 0 (the latest) or a version number');
    let bytes = 0;
    for (const [k, v] of Object.entries(req.inputs)) {
      if (!k) throw invalidArgument('inputs', 'an input name must not be empty');
      bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
    }
    if (bytes > this.opts.maxInputBytes) throw invalidArgument('inputs', `are ${bytes} bytes, over the limit of ${this.opts.maxInputBytes}`);
    const plan = await this.opts.store.get(req.name, req.version ?? 0);
    const def = plan.definition;
    const reply = await this.scripts.start(runId, Date.now(), {
      digest: digestOf(req),
      name: def.name,
      version: def.version,
      failurePolicy: def.failurePolicy,
      inputsJson: JSON.stringify(req.inputs),
      steps: def.steps.map((s) => ({ stepId: s.stepId, dependencies: plan.dependencyCounts.get(s.stepId)! })),
      staged: this.staged(runId, plan, req),
    });
    // The run's record, existing or new: its steps are released from it (and again by the engine's recovery).
    written?.note(this.opts.redis, this.opts.keys.run(runId));
    if (reply.code === StartRunCode.Conflict) {
      throw new OrchestratorError('already_exists', `run_id: run "${runId}" already exists with a different workflow, version or inputs`, { field: 'run_id' });
    }
    if (reply.code === StartRunCode.Exists) {
      const header = await this.header(runId);
      return { runId, version: header.version, created: false, state: header.state };
    }
    this.log.debug({ runId, workflow: def.name, version: def.version }, 'run started');
    // Tracing on only (one write per run, none per step): where the steps' spans hang. Before the
    // release below, which reads the run's header.
    if (req.trace) await setRunTrace(this.opts.redis, this.opts.keys, runId, req.trace);
    await this.release(runId, reply.released);
    return { runId, version: def.version, created: true, state: 'running' };
  }

  /**
   * On a single Redis, a new run's staged releases (src/store/workflows/staged-steps.ts): for
   * each step all of whose direct dependents depend on it alone and have tasks that refer to no
   * step's result (only the run's inputs and id) and are not delayed, those tasks, rendered and
   * validated now, which the pool that finishes the step's task adds with its success, queueing
   * the dependents without a hop through the engine. A dependent whose task does not render or is
   * invalid keeps its step off the stage: release() records why it could not start. Nothing is
   * staged for a traced run (release() starts each step's span) nor for a step without dependents
   * (its success may end the run, which the engine sees: its header cache, its log).
   */
  private staged(runId: string, plan: WorkflowPlan, req: StartRunRequest): StagedStep[] | undefined {
    const { keys, tracing, submitter } = this.opts;
    if (keys.cluster || (req.trace && tracing?.enabled)) return undefined;
    const tctx: TemplateContext = { runId, inputs: req.inputs, stepResult: () => undefined };
    // A dependent's task, when it can be staged (each such dependent has one step to be staged under).
    const taskOf = (d: string): ResolvedTask | undefined => {
      const step = plan.steps.get(d)!;
      if (plan.dependencyCounts.get(d) !== 1 || !refersToNoStep(step.task)) return undefined;
      try {
        const task = submitter.prepareStep(renderTask(step.task, tctx, runId, d), `steps.${d}.task`);
        return task.delayMs > 0 ? undefined : task;
      } catch {
        // Left for release(), which records why the step could not start.
        return undefined;
      }
    };
    const runOpts = { eventsMaxLen: this.opts.eventsMaxLen, runRetentionMs: this.opts.runRetentionMs };
    const out: StagedStep[] = [];
    for (const stepId of plan.steps.keys()) {
      const dependents = plan.dependents.get(stepId) ?? [];
      if (dependents.length === 0) continue;
      const tasks = dependents.map(taskOf);
      if (tasks.some((t) => t === undefined)) continue;
      out.push(stagedStep(keys, runOpts, stepId, dependents, submitter.entriesOf(tasks as ResolvedTask[])));
    }
    return out;
  }

  /** A run's header, or not_found. */
  async header(runId: string): Promise<RunHeader> {
    const h = await this.opts.redis.hgetall(this.opts.keys.run(runId));
    if (!h.name) throw new OrchestratorError('not_found', `run_id: no run "${runId}"`, { field: 'run_id' });
    return parseHeader(runId, h);
  }

  /** The run's header and plan, cached: neither changes but for the state, not used here. */
  private async context(runId: string): Promise<{ header: RunHeader; plan: WorkflowPlan } | undefined> {
    const hit = this.headers.get(runId);
    if (hit) return hit;
    let header: RunHeader;
    try {
      header = await this.header(runId);
    } catch (err) {
      if (err instanceof OrchestratorError && err.code === 'not_found') return undefined;
      throw err;
    }
    const plan = await this.opts.store.get(header.name, header.version);
    if (this.headers.size >= HEADER_CACHE) this.headers.clear();
    const ctx = { header, plan };
    this.headers.set(runId, ctx);
    return ctx;
  }

  /**
   * A step task's final outcome (from the workflow inbox). Idempotent: an outcome already
   * recorded changes nothing (but sends a stopped run's cancels again), nor does one of a task
   * that belongs to no run.
   */
  async stepFinished(r: TaskResultRecord, inbox?: InboxEntry): Promise<StepFinished> {
    if (!r.workflowId) return { acked: false };
    const stepId = stepIdOf(r.workflowId, r.taskId);
    if (!stepId) return { acked: false };
    const ctx = await this.context(r.workflowId);
    if (!ctx?.plan.steps.has(stepId)) return { acked: false };
    return this.recordOutcome(r.workflowId, ctx.plan, stepId, stepOutcomeOf(r), inbox);
  }

  /**
   * Applies a final outcome, then releases and cancels what it leads to. `inbox`: the entry it
   * came from, acknowledged by the same script call when nothing is left to cancel (single Redis).
   */
  private async recordOutcome(runId: string, plan: WorkflowPlan, stepId: string, o: StepOutcome, inbox?: InboxEntry): Promise<StepFinished> {
    const direct = plan.dependents.get(stepId) ?? [];
    const downstream = o.state === 'succeeded' ? [] : plan.descendants(stepId);
    const { cluster } = this.opts.keys;
    const reply = await this.scripts.stepDone(runId, Date.now(), {
      stepId,
      state: o.state,
      attempt: o.attempt,
      outcomeJson: JSON.stringify(o),
      error: o.error ?? '',
      dependents: direct,
      downstream,
      ...(cluster ? {} : { inbox, tasks: await this.tasksReleasedBy(runId, stepId, o) }),
    });
    const reason = `run stopped: step ${stepId} ${o.state}`;
    if (reply.code === StepDoneCode.NotRecorded) {
      // Recorded before: the steps of a stopped run still queued are cancelled again, since the
      // first application may have stopped before its cancels went out (step-done.lua).
      await this.cancelSteps(runId, reply.cancel, reason);
      return { acked: reply.acked };
    }
    await this.followOutcome(runId, reason, reply);
    return { acked: reply.acked };
  }

  /**
   * On a single Redis, the tasks of `stepId`'s direct dependents that its success may release,
   * for step-done to add in the same call (their steps queued at once): those that depend on
   * this step alone and whose references resolve with the run's inputs and id and this step's
   * result. Any other dependent (a fan-in step, whose task would be sent with every one of its
   * dependencies' outcomes; one that refers to another step's result; a task that does not
   * render or is invalid, whose failure release() records; a step of a traced run, whose span
   * release() starts) is released for release() to submit.
   */
  private async tasksReleasedBy(runId: string, stepId: string, o: StepOutcome): Promise<SubmitEntry[] | undefined> {
    if (o.state !== 'succeeded') return undefined;
    const ctx = await this.context(runId);
    if (!ctx || (ctx.header.trace && this.opts.tracing?.enabled)) return undefined;
    const { plan, header } = ctx;
    let result: unknown;
    try {
      result = JSON.parse(o.result ?? 'null');
    } catch {
      result = o.result;
    }
    const tctx: TemplateContext = { runId, inputs: header.inputs, stepResult: (id) => (id === stepId ? { value: result } : undefined) };
    const tasks: ResolvedTask[] = [];
    for (const d of plan.dependents.get(stepId) ?? []) {
      const step = plan.steps.get(d)!;
      if (plan.dependencyCounts.get(d) !== 1 || !refersAtMostTo(step.task, stepId)) continue;
      try {
        tasks.push(this.opts.submitter.prepareStep(renderTask(step.task, tctx, runId, d), `steps.${d}.task`));
      } catch {
        // Left for release(), which records why the step could not start.
      }
    }
    return tasks.length ? this.opts.submitter.entriesOf(tasks) : undefined;
  }

  /** What a recorded outcome leads to beyond the script: releases, cancels, the run's end. */
  private async followOutcome(runId: string, reason: string, reply: Extract<StepDoneReply, { code: StepDoneCode.Recorded }>): Promise<void> {
    const { released, cancel, runEnded, releasing } = reply;
    // A fail_fast stop skips the steps being released: their tasks must not run either.
    await this.markReleasingCancelled(runId, releasing, reason);
    if (runEnded) {
      this.headers.delete(runId);
      this.log.debug({ runId }, 'run ended');
    }
    await Promise.all([this.release(runId, released), this.cancelSteps(runId, cancel, reason)]);
  }

  /**
   * Submits the tasks of steps this caller released. A step whose references cannot be resolved,
   * whose resolved task is invalid, or whose task id is taken by a task with other content, fails
   * without running.
   */
  async release(runId: string, stepIds: string[]): Promise<void> {
    if (stepIds.length === 0) return;
    const ctx = await this.context(runId);
    if (!ctx) return;
    const { plan, header } = ctx;
    const results = await this.upstreamResults(runId, plan, stepIds);
    const tctx: TemplateContext = {
      runId,
      inputs: header.inputs,
      stepResult: (id) => (results.has(id) ? { value: results.get(id) } : undefined),
    };
    const ready: PreparedStep[] = [];
    const failed: { stepId: string; error: string }[] = [];
    for (const stepId of stepIds) {
      const step = plan.steps.get(stepId)!;
      try {
        const task = this.opts.submitter.prepareStep(this.traced(renderTask(step.task, tctx, runId, stepId), header, stepId), `steps.${stepId}.task`);
        ready.push({ stepId, task });
      } catch (err) {
        if (!(err instanceof TemplateError) && !(err instanceof OrchestratorError && err.code === 'invalid_argument')) throw err;
        failed.push({ stepId, error: `step ${stepId} could not start: ${err.message}` });
      }
    }
    for (let i = 0; i < ready.length; i += SUBMIT_CHUNK) {
      const submitted = await this.submitSteps(ready.slice(i, i + SUBMIT_CHUNK), failed);
      if (submitted.length === 0) continue;
      const cancel = await this.scripts.markQueued(
        runId,
        Date.now(),
        submitted.map((c) => c.stepId),
      );
      await this.cancelSteps(runId, cancel, 'run stopped');
    }
    for (const f of failed) {
      await this.recordOutcome(runId, plan, f.stepId, { state: 'failed', attempt: 0, error: f.error, at: Date.now() });
    }
  }

  /**
   * A step's task with the trace it continues: a `workflow step` span, child of the run's span,
   * recorded as the step is released. Nothing when tracing is off or the run has no trace.
   */
  private traced(task: TaskSubmission, header: RunHeader, stepId: string): TaskSubmission {
    const tracing = this.opts.tracing;
    if (!tracing?.enabled || !header.trace) return task;
    const span = tracing.startSpan(SPAN.workflowStep, {
      parent: header.trace,
      attributes: {
        [ATTR.runId]: header.runId,
        [ATTR.workflowName]: header.name,
        [ATTR.stepId]: stepId,
        [ATTR.taskId]: task.taskId ?? '',
        [ATTR.taskClass]: task.taskClass,
      },
    });
    span.end();
    return { ...task, trace: tracing.carrierOf(span) };
  }

  /**
   * Submits step tasks; returns the steps submitted. A step whose task id is already taken by a
   * task with other content goes to `failed`: resubmitting cannot help, and left releasing it
   * would be taken up by the sweep again and again.
   */
  private async submitSteps(chunk: PreparedStep[], failed: { stepId: string; error: string }[]): Promise<PreparedStep[]> {
    try {
      await this.opts.submitter.submitPrepared(chunk.map((c) => c.task));
      return chunk;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    // A batch's claim is all or nothing: one at a time, to tell the taken ids from the rest.
    const outcomes = await Promise.all(
      chunk.map(async (c) => {
        try {
          await this.opts.submitter.submitPrepared([c.task]);
          return true;
        } catch (err) {
          if (!isAlreadyExists(err)) throw err;
          failed.push({
            stepId: c.stepId,
            error: `step ${c.stepId} could not start: its task id "${c.task.taskId}" is taken by another task with different content`,
          });
          return false;
        }
      }),
    );
    return chunk.filter((_, i) => outcomes[i]);
  }

  /** Parsed results of the succeeded upstream steps that the given steps refer to. */
  private async upstreamResults(runId: string, plan: WorkflowPlan, stepIds: string[]): Promise<Map<string, unknown>> {
    const wanted = new Set<string>();
    for (const id of stepIds) {
      for (const [, s] of templatedStrings(plan.steps.get(id)!.task, '')) for (const r of templateRefs(s)) if (r.kind === 'step') wanted.add(r.stepId);
    }
    const out = new Map<string, unknown>();
    if (wanted.size === 0) return out;
    const ids = [...wanted];
    const raw = await this.opts.redis.hmget(this.opts.keys.runOutcomes(runId), ...ids);
    ids.forEach((id, i) => {
      const o = parseOutcome(raw[i]);
      if (o?.state !== 'succeeded') return;
      try {
        out.set(id, JSON.parse(o.result ?? 'null'));
      } catch {
        out.set(id, o.result);
      }
    });
    return out;
  }

  private async cancelSteps(runId: string, stepIds: string[], reason: string, written?: WrittenKeys): Promise<void> {
    await Promise.all(
      stepIds.map(async (s) => {
        try {
          await this.opts.canceller.cancel(stepTaskId(runId, s), reason, written);
        } catch (err) {
          // A step stopped while releasing may have no task yet: nothing to cancel.
          if (!(err instanceof OrchestratorError && err.code === 'not_found')) throw err;
        }
      }),
    );
  }

  /**
   * On a cluster, a step's task is added without a look at its step (its run lives in another
   * slot), and the engine cancels it only after the add: long enough for a pool to start it and
   * even finish it. So before a run's cancel is acknowledged (or a failure's stop goes on to
   * cancel), each step it stopped while being released gets a cancel mark in its class's cancel hash, as CancelTask writes it: an add that
   * comes after finds the mark and adds nothing (submit-class-tasks.lua, "jobless"), and a task
   * added before is refused by any pool that would start it (its start reads the mark). On one
   * Redis the add script reads the step itself: nothing to mark.
   */
  private async markReleasingCancelled(runId: string, stepIds: string[], reason: string, written?: WrittenKeys): Promise<void> {
    const { keys, redis } = this.opts;
    if (!keys.cluster || stepIds.length === 0) return;
    const ctx = await this.context(runId);
    if (!ctx) return;
    await Promise.all(
      stepIds.map(async (stepId) => {
        const taskClass = ctx.plan.steps.get(stepId)?.task.taskClass;
        if (!taskClass) return;
        const taskId = stepTaskId(runId, stepId);
        await this.requestCancel(taskClass, taskId, reason);
        written?.note(redis, keys.cancelOf(taskClass, keys.partitionOf(taskClass, taskId)));
      }),
    );
  }

  /** CancelWorkflowRun: the state right after the request (RUNNING while tasks are stopping). */
  async cancel(runId: string, reason: string, written?: WrittenKeys): Promise<RunState> {
    if (!runId) throw invalidArgument('run_id', 'is required');
    written?.note(this.opts.redis, this.opts.keys.run(runId));
    const reply = await this.scripts.cancel(runId, Date.now(), reason || 'requested');
    if (reply.code === CancelRunCode.Missing) throw new OrchestratorError('not_found', `run_id: no run "${runId}"`, { field: 'run_id' });
    const why = `run cancelled: ${reason || 'requested'}`;
    await this.markReleasingCancelled(runId, reply.releasing, why, written);
    await this.cancelSteps(runId, reply.cancel, why, written);
    return reply.state as RunState;
  }

  /**
   * Takes over steps left releasing for longer than `olderThanMs` (their releaser died) and
   * submits them. Submission is idempotent on the step's task id: a step whose task was
   * submitted, or already ran (its outcome went to the inbox with its finish), is not run again.
   */
  async recoverReleasing(olderThanMs: number): Promise<number> {
    const { redis, keys } = this.opts;
    const cutoff = Date.now() - olderThanMs;
    const members = await redis.zrangebyscore(keys.releasing, '-inf', cutoff, 'LIMIT', 0, 200);
    const byRun = new Map<string, string[]>();
    await Promise.all(
      members.map(async (m) => {
        const [runId, stepId] = m.split('\t') as [string, string];
        if ((await this.scripts.retake(runId, Date.now(), stepId, cutoff)) !== RetakeCode.Taken) return;
        byRun.set(runId, [...(byRun.get(runId) ?? []), stepId]);
      }),
    );
    let recovered = 0;
    for (const [runId, steps] of byRun) {
      this.log.info({ runId, steps: steps.length }, 'releasing steps whose releaser stopped');
      await this.release(runId, steps);
      recovered += steps.length;
    }
    return recovered;
  }
}

/** Whether the templates of task `t` refer to no step's result at all. */
function refersToNoStep(t: TaskSubmission): boolean {
  for (const [, s] of templatedStrings(t, '')) for (const r of templateRefs(s)) if (r.kind === 'step') return false;
  return true;
}

/** Whether the templates of task `t` refer to no step's result but `stepId`'s. */
function refersAtMostTo(t: TaskSubmission, stepId: string): boolean {
  for (const [, s] of templatedStrings(t, '')) for (const r of templateRefs(s)) if (r.kind === 'step' && r.stepId !== stepId) return false;
  return true;
}

/** The step's task with references resolved, named and tied to its run. */
function renderTask(t: TaskSubmission, ctx: TemplateContext, runId: string, stepId: string): TaskSubmission {
  const rendered = mapTemplatedStrings(t, (field, value) => {
    try {
      return renderTemplate(value, ctx);
    } catch (err) {
      if (err instanceof TemplateError) throw new TemplateError(`${field}: ${err.message}`);
      throw err;
    }
  });
  return { ...rendered, taskId: stepTaskId(runId, stepId), workflowId: runId };
}
