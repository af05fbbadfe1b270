/**
 * The read side of workflow runs: GetWorkflowRun's whole picture and StreamWorkflowStatus's
 * picture-then-changes. The snapshot and the events stream's last id are read in one MULTI, and
 * every state change is written together with its event (src/store/lua/workflows/), so following the
 * stream from that id misses nothing and repeats nothing the snapshot already said, as long as
 * the stream still holds those entries when they are read: a watcher held back by a slow client
 * can find them trimmed (MAXLEN), so it checks now and then and reads the run again when it may
 * have missed something. Watchers read the events stream through one shared tailer
 * (src/feeds/stream-tailer.ts), never a connection each.
 *
 * On a Redis Cluster the run and step events are in the workflow events stream, in the run's slot
 * (read in the MULTI as above), and the step tasks' own events (started, retrying, stalled) in
 * their classes' streams, elsewhere: those streams' last ids are read just before the MULTI, so
 * following them from there misses nothing; what lands in between is seen twice and the second
 * sighting, no change, is not sent again.
 */
import { pipelineBySlot } from '../redis/slot-pipelines.js';
import type { RedisClient } from '../redis/redis-client.js';
import type { Keys } from '../store/keys.js';
import { OrchestratorError } from '../errors/errors.js';
import type { TaskStatusReader } from '../tasks/task-status.js';
import type { RawEntry, TaskEventRecord } from '../store/codecs/feed-format.js';
import type { Cursored, StreamContext } from '../feeds/feed-subscriptions.js';
import { compareIds } from '../feeds/stream-tailer.js';
import type { FeedTailers } from '../feeds/feed-tailers.js';
import { encodeFeedCursor } from '../feeds/feed-cursor.js';
import { openMerged, type MergedItem, type MergedSubscription } from '../feeds/merged-feed.js';
import { eventsTailers } from '../feeds/feed-subscriptions.js';
import { createLogger } from '../logging/logger.js';
import { stepIdOf, stepTaskId, type FailurePolicy } from './workflow-definition.js';
import type { WorkflowStore } from './workflow-store.js';
import { parseHeader, parseOutcome, type RunHeader, type RunState, type StoredStepState } from './workflow-runs.js';

export type StepState = 'pending' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'skipped';

export interface StepRunView {
  stepId: string;
  taskId: string;
  taskClass: string;
  state: StepState;
  dependsOn: string[];
  attempt: number;
  resultJson: string;
  error: string;
  finishedAtMs: number;
  /** Start of the step task's latest attempt (BullMQ's processedOn); 0 before it ran or once its job is gone. */
  startedAtMs: number;
}

export interface WorkflowRunView extends RunHeader {
  failurePolicy: FailurePolicy;
  steps: StepRunView[];
}

export interface WorkflowUpdate {
  runId: string;
  /** Empty for an update of the run itself. */
  stepId: string;
  runState: RunState;
  stepState?: StepState;
  atMs: number;
  taskId: string;
  attempt: number;
  error: string;
  resultJson: string;
  /** Part of the picture sent when the stream began. */
  snapshot: boolean;
}

export interface WorkflowStatusReaderOptions {
  redis: RedisClient;
  redisUrl: string;
  keys: Keys;
  store: WorkflowStore;
  status: TaskStatusReader;
  /**
   * How often a watcher checks whether it may have missed changes of its run: entries after its
   * position trimmed from the events stream (MAXLEN) before it read them, as can happen to a
   * watcher held back by a slow client. It then reads the run again, sends what changed and
   * closes when the run has ended. @default 5000
   */
  recheckMs?: number;
  /** The shared readers of the events streams; ones of its own when absent. */
  events?: FeedTailers<TaskEventRecord>;
  /** The configured classes (whose events streams a run's steps write to on a cluster). */
  classes: Iterable<string>;
  /** Updates one watcher may have waiting to be sent before it is ended (grpc.streamBufferEntries). @default 1000 */
  maxBufferedEntries?: number;
  /** Bytes one watcher may have waiting, as maxBufferedEntries (grpc.streamBufferBytes). @default 4 MiB */
  maxBufferedBytes?: number;
}

const FINAL_RUN = new Set<RunState>(['succeeded', 'failed', 'cancelled']);
const FINAL_STEP = new Set<StepState>(['succeeded', 'failed', 'cancelled', 'skipped']);
const DEFAULT_RECHECK_MS = 5_000;

export class WorkflowStatusReader {
  private readonly events: FeedTailers<TaskEventRecord>;

  constructor(private readonly opts: WorkflowStatusReaderOptions) {
    this.events =
      opts.events ?? eventsTailers({ redis: opts.redis, redisUrl: opts.redisUrl, keys: opts.keys, classes: opts.classes, logger: createLogger('silent') });
  }

  /** Stops the reader of its own, if it has one (a shared one is closed by its owner). */
  async close(): Promise<void> {
    if (!this.opts.events) await this.events.close();
  }

  /** GetWorkflowRun. */
  async get(runId: string): Promise<WorkflowRunView> {
    return (await this.snapshot(runId)).view;
  }

  /**
   * The run and its steps, with the events streams' positions they are current as of (the
   * workflow events stream's under "", first; on a cluster also every class's) and those as a
   * cursor. `runOnly`: the run alone (no steps) and the workflow events stream's position alone.
   */
  private async snapshot(runId: string, runOnly = false): Promise<{ view: WorkflowRunView; cursor: string; positions: Map<string, string> }> {
    const { redis, keys } = this.opts;
    const classStreams = this.events.composite && !runOnly ? this.events.streams.filter((s) => s.name !== '') : [];
    // Each on its own (they may live on different shards), before the MULTI: see the header.
    const classLast = await Promise.all(classStreams.map((s) => redis.xrevrange(s.key, '+', '-', 'COUNT', 1) as Promise<RawEntry[]>));
    const multi = redis.multi().hgetall(keys.run(runId)).xrevrange(keys.workflowEvents, '+', '-', 'COUNT', 1);
    if (!runOnly) multi.hgetall(keys.runSteps(runId)).hgetall(keys.runOutcomes(runId));
    const replies = (await multi.exec()) as [Error | null, unknown][];
    for (const [err] of replies) if (err) throw err;
    const [run, last, steps, outcomes] = replies.map(([, v]) => v) as [Record<string, string>, RawEntry[], Record<string, string>?, Record<string, string>?];
    if (!run.name) throw new OrchestratorError('not_found', `run_id: no run "${runId}"`, { field: 'run_id' });
    const header = parseHeader(runId, run);
    const views = steps && outcomes ? await this.stepViews(runId, header, steps, outcomes) : [];
    const positions = new Map([['', last[0]?.[0] ?? '0-0']]);
    classStreams.forEach((s, i) => positions.set(s.name, classLast[i]![0]?.[0] ?? '0-0'));
    const cursor = this.events.composite ? encodeFeedCursor(positions) : positions.get('')!;
    return { view: { ...header, steps: views }, cursor, positions };
  }

  /** Every step of the run as its stored state, outcome and task say. */
  private async stepViews(runId: string, header: RunHeader, steps: Record<string, string>, outcomes: Record<string, string>): Promise<StepRunView[]> {
    const plan = await this.opts.store.get(header.name, header.version);
    const views = await Promise.all(
      plan.definition.steps.map(async (s): Promise<StepRunView> => {
        const taskId = stepTaskId(runId, s.stepId);
        const stored = (steps[s.stepId] ?? 'pending') as StoredStepState;
        const o = parseOutcome(outcomes[s.stepId]);
        const view: StepRunView = {
          stepId: s.stepId,
          taskId,
          taskClass: s.task.taskClass,
          state: stored === 'releasing' ? 'pending' : (stored as StepState),
          dependsOn: s.dependsOn,
          attempt: o?.attempt ?? 0,
          resultJson: o?.state === 'succeeded' ? (o.result ?? 'null') : '',
          error: o?.error ?? '',
          finishedAtMs: o?.at ?? 0,
          startedAtMs: 0,
        };
        if (stored === 'queued') await this.refine(view);
        return view;
      }),
    );
    await this.addStarts(views);
    return views;
  }

  /**
   * When each step's task last started, from its BullMQ job (one pipeline for the run, one per class on a cluster), so a
   * reader can show how long each step took. Steps that never got a task are left at 0.
   */
  private async addStarts(views: StepRunView[]): Promise<void> {
    const ran = views.filter((v) => v.state !== 'pending' && v.state !== 'skipped');
    if (ran.length === 0) return;
    const jobOf = (v: StepRunView) => this.opts.keys.job(v.taskClass, v.taskId);
    // One pipeline per class's slot on a cluster (src/redis/slot-pipelines.ts).
    const replies = await pipelineBySlot(this.opts.redis, ran, jobOf, (pipe, v) => pipe.hget(jobOf(v), 'processedOn'));
    ran.forEach((v, i) => {
      const n = Number(replies[i]?.[0]?.[1] ?? 0);
      v.startedAtMs = Number.isSafeInteger(n) && n > 0 ? n : 0;
    });
  }

  /** A queued step's task may be running, or retrying: its task status says. */
  private async refine(view: StepRunView): Promise<void> {
    try {
      const t = await this.opts.status.get(view.taskId);
      if (t.state === 'running') view.state = 'running';
      view.attempt = t.attempt;
      if (t.state === 'scheduled' || t.state === 'queued') view.error = t.error;
    } catch (err) {
      // Its task is being submitted right now: queued is what it is about to be.
      if (!(err instanceof OrchestratorError && err.code === 'not_found')) throw err;
    }
  }

  /**
   * StreamWorkflowStatus: the run and every step as they stand, then each change, until the run
   * ends. Steps' running and retrying come from their tasks' events; the rest from the run's own.
   * Every `recheckMs` the watcher also makes sure it has not missed the end (see mayHaveMissed).
   * `runOnly` (run_only): the run's updates alone, read from the run's hash and its own events
   * (workflow_run), never a step's: with no steps in its snapshots, the step updates below have
   * nothing to send and the class streams are not followed.
   */
  async *watch(runId: string, ctx: StreamContext, opts: { runOnly?: boolean } = {}): AsyncGenerator<Cursored<WorkflowUpdate>> {
    const runOnly = opts.runOnly ?? false;
    const first = await this.snapshot(runId, runOnly);
    let { cursor, positions } = first;
    const composite = this.events.composite;
    // The workflow events stream and, on a cluster, the streams of the run's step classes.
    const streams = composite
      ? this.events.streams.filter((s) => s.name === '' || first.view.steps.some((st) => st.taskClass === s.name))
      : this.events.streams;
    // Positions of the streams followed only: another class's stream trimmed is no miss of this run.
    const followed = (p: Map<string, string>) => new Map([...p].filter(([name]) => streams.some((st) => st.name === name)));
    positions = followed(positions);
    let runState = first.view.state;
    const base = { runId, runState, atMs: Date.now(), taskId: '', attempt: 0, error: '', resultJson: '', snapshot: true };
    yield { cursor, item: { ...base, stepId: '', error: first.view.stopReason } };
    const last = new Map<string, { state: StepState; attempt: number }>();
    for (const s of first.view.steps) {
      last.set(s.stepId, { state: s.state, attempt: s.attempt });
      yield { cursor, item: { ...base, stepId: s.stepId, stepState: s.state, taskId: s.taskId, attempt: s.attempt, error: s.error, resultJson: s.resultJson } };
    }
    if (FINAL_RUN.has(runState)) return;

    const recheckMs = this.opts.recheckMs ?? DEFAULT_RECHECK_MS;
    const signal = ctx.signal;
    const follow = (from: Map<string, string>) =>
      openMerged(this.events, {
        streams,
        start: { kind: 'per-stream', ids: from },
        match: runOnly ? (e) => e.workflowId === runId && e.type === 'workflow_run' : (e) => e.workflowId === runId,
        maxBufferedEntries: this.opts.maxBufferedEntries ?? 1_000,
        maxBufferedBytes: this.opts.maxBufferedBytes ?? 4 << 20,
        signal,
        onOverflow: ctx.fail,
      });
    let sub: MergedSubscription<TaskEventRecord> = await follow(positions);
    let items = sub.items();
    let pending: Promise<IteratorResult<MergedItem<TaskEventRecord>>> | undefined;
    try {
      let checkedAt = Date.now();
      while (!signal.aborted) {
        if (Date.now() - checkedAt >= recheckMs) {
          checkedAt = Date.now();
          if (await this.mayHaveMissed(positions)) {
            // Read the run again (with the stream position it is current as of) and send what
            // changed since what this watcher last sent; then follow the stream from there.
            const again = await this.snapshot(runId, runOnly);
            cursor = again.cursor;
            positions = followed(again.positions);
            sub.close();
            sub = await follow(positions);
            items = sub.items();
            pending = undefined;
            for (const s of again.view.steps) {
              const prev = last.get(s.stepId);
              if (prev && (FINAL_STEP.has(prev.state) || (prev.state === s.state && prev.attempt === s.attempt))) continue;
              last.set(s.stepId, { state: s.state, attempt: s.attempt });
              yield {
                cursor,
                item: {
                  ...base,
                  runState,
                  snapshot: false,
                  stepId: s.stepId,
                  stepState: s.state,
                  atMs: s.finishedAtMs || Date.now(),
                  taskId: s.taskId,
                  attempt: s.attempt,
                  error: s.error,
                  resultJson: s.resultJson,
                },
              };
            }
            if (again.view.state !== runState) {
              runState = again.view.state;
              const atMs = again.view.finishedAtMs || Date.now();
              yield { cursor, item: { ...base, runState, snapshot: false, stepId: '', atMs, error: again.view.stopReason } };
            }
            if (FINAL_RUN.has(runState)) return;
          }
        }
        // The next event of this run, or nothing within the recheck interval.
        pending ??= items.next();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const waitMs = Math.max(1, recheckMs - (Date.now() - checkedAt));
        const got = await Promise.race([
          pending,
          new Promise<undefined>((resolve) => {
            timer = setTimeout(() => resolve(undefined), waitMs);
          }),
        ]);
        clearTimeout(timer);
        if (got === undefined) continue;
        pending = undefined;
        if (got.done) return;
        const { cursor: id, stream, id: entryId, record: e } = got.value;
        cursor = id;
        positions.set(stream, entryId);
        if (e.type === 'workflow_run') {
          runState = (e.state ?? runState) as RunState;
          yield { cursor: id, item: { ...base, runState, snapshot: false, stepId: '', atMs: e.atMs, error: e.detail ?? '' } };
          if (FINAL_RUN.has(runState)) return;
          continue;
        }
        const change = stepChange(runId, e);
        if (!change) continue;
        const prev = last.get(change.stepId);
        // The queued mark can land after the task's start: never step back from running or an end.
        if (prev && (FINAL_STEP.has(prev.state) || (e.type === 'workflow_step' && change.state === 'queued' && prev.state === 'running'))) continue;
        // On a cluster a class stream is followed from just before the snapshot (see the header).
        if (composite && prev && prev.state === change.state && prev.attempt === change.attempt) continue;
        last.set(change.stepId, change);
        const outcome = change.state === 'succeeded' ? parseOutcome(await this.opts.redis.hget(this.opts.keys.runOutcomes(runId), change.stepId)) : undefined;
        yield {
          cursor: id,
          item: {
            ...base,
            runState,
            snapshot: false,
            stepId: change.stepId,
            stepState: change.state,
            atMs: e.atMs,
            taskId: e.taskId,
            attempt: change.attempt,
            error: e.type === 'workflow_step' && change.state !== 'succeeded' ? (e.detail ?? '') : e.type === 'retrying' ? (e.detail ?? '') : '',
            resultJson: outcome ? (outcome.result ?? 'null') : '',
          },
        };
      }
    } finally {
      sub.close();
    }
  }

  /**
   * Whether a watcher at `positions` may have missed changes of its run: an events stream no
   * longer holds the entry at its position, so entries after it may have been trimmed unread.
   * (The run's end, once written, stays readable until trimming removes it and everything before it.)
   */
  private async mayHaveMissed(positions: ReadonlyMap<string, string>): Promise<boolean> {
    const checks = [...positions].map(async ([name, cursor]) => {
      const key = this.opts.keys.eventsNamed(name);
      if (key === undefined) return false;
      const oldest = (await this.opts.redis.xrange(key, '-', '+', 'COUNT', 1)) as RawEntry[];
      const oldestId = oldest[0]?.[0];
      return oldestId === undefined ? cursor !== '0-0' : compareIds(oldestId, cursor) > 0;
    });
    return (await Promise.all(checks)).some(Boolean);
  }
}

/** A step's new state, from a workflow_step event or its task's own event. */
function stepChange(runId: string, e: TaskEventRecord): { stepId: string; state: StepState; attempt: number } | undefined {
  if (e.type === 'workflow_step' && e.stepId) return { stepId: e.stepId, state: e.state as StepState, attempt: e.attempt };
  const stepId = stepIdOf(runId, e.taskId);
  if (!stepId) return undefined;
  if (e.type === 'started') return { stepId, state: 'running', attempt: e.attempt };
  if (e.type === 'retrying' || e.type === 'stalled') return { stepId, state: 'queued', attempt: e.attempt };
  return undefined;
}
