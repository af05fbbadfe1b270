/**
 * Filtered, resumable subscriptions to the feeds, behind StreamEvents and StreamTaskResults.
 * Each item carries its cursor so a client that reconnects resumes exactly after the last item it
 * saw: on a single Redis the stream entry id, on a Redis Cluster (one stream per class,
 * src/store/keys.ts) one opaque string holding every stream's position (feed-cursor.ts). Every
 * subscription reads through the one shared tailer of each stream it needs (feed-tailers.ts):
 * Redis connections do not grow with subscribers. A subscription filtered by class reads only
 * its classes' streams.
 */
import type { Keys } from '../store/keys.js';
import type { TaskFailure } from '../errors/task-failure.js';
import { OrchestratorError } from '../errors/errors.js';
import { EVENT_TYPES, parseEvent, parseResult, type TaskEventRecord, type TaskResultRecord } from '../store/codecs/feed-format.js';
import type { RedisClient } from '../redis/redis-client.js';
import { invalidArgument } from '../errors/errors.js';
import type { Logger } from '../logging/logger.js';
import { parseFeedCursor, type FeedStart } from './feed-cursor.js';
import { FeedTailers } from './feed-tailers.js';
import { openMerged, type MergedOptions } from './merged-feed.js';

export interface EventFilter {
  types: string[];
  taskClasses: string[];
  taskIds: string[];
  workflowId: string;
  /** Only events of tasks this schedule fired ("" for any). */
  scheduleId?: string;
}

/**
 * What a results subscription reads of a task that may already be over, to answer it without
 * waiting on the stream (src/tasks/task-status.ts TaskStatusView has these fields and more).
 */
export interface TaskOutcomeView {
  taskId: string;
  taskClass: string;
  state: string;
  attempt: number;
  startedAtMs: number;
  finishedAtMs: number;
  workflowId: string;
  workerId: string;
  resultJson: string;
  error: string;
  failure?: TaskFailure;
  scheduleId: string;
  undeliverable: string;
}

/** Looks a task up by id (src/tasks/task-status.ts TaskStatusReader); not_found when it is unknown. */
export interface TaskOutcomeLookup {
  get(taskId: string): Promise<TaskOutcomeView>;
}

export interface FeedSubscriptionsOptions {
  redis: RedisClient;
  redisUrl: string;
  keys: Keys;
  status: TaskOutcomeLookup;
  knownClasses: ReadonlySet<string>;
  /** Most bytes an entry may hold to be delivered whole; larger ones are delivered as markers (feed-format.ts). */
  maxEntryBytes?: number;
  logger: Logger;
  /** Records one subscriber may have waiting to be sent before it is ended (grpc.streamBufferEntries). */
  maxBufferedEntries: number;
  /** Bytes one subscriber may have waiting to be sent before it is ended (grpc.streamBufferBytes). */
  maxBufferedBytes: number;
  /** Longest one shared XREAD blocks. @default 5000 */
  blockMs?: number;
  /** The shared readers of the events streams, when another reader (workflow status) uses them too. */
  eventsTail?: FeedTailers<TaskEventRecord>;
}

/** What a subscription needs from its call: when it ends, and how to end it early. */
export interface StreamContext {
  signal: AbortSignal;
  /** Ends the call with this error (a subscriber that fell behind). */
  fail: (err: OrchestratorError) => void;
}

export interface Cursored<T> {
  cursor: string;
  item: T;
}

function checkClasses(field: string, classes: string[], known: ReadonlySet<string>): void {
  for (const c of classes) if (!known.has(c)) throw invalidArgument(field, `unknown class "${c}"`);
}

/** What the shared readers of a feed need of a deployment. */
interface TailerSource {
  redis: RedisClient;
  redisUrl: string;
  keys: Keys;
  classes: Iterable<string>;
  maxEntryBytes?: number;
  logger: Logger;
  blockMs?: number;
}

/** The shared readers of one feed, its streams `streams(classes)` read by `name` connections. */
function feedTailers<R extends { taskId: string }>(
  o: TailerSource,
  streams: (classes: string[]) => ReturnType<Keys['eventStreams']>,
  name: string,
  parse: (f: string[], opts: { maxBytes?: number }) => R,
): FeedTailers<R> {
  const classes = [...o.classes];
  return new FeedTailers({
    redisUrl: o.redisUrl,
    redis: o.redis,
    streams: streams(classes),
    composite: o.keys.feedsPerClass,
    classes,
    name,
    parse: (f) => parse(f, { maxBytes: o.maxEntryBytes }),
    taskIdOf: (r) => r.taskId,
    logger: o.logger,
    blockMs: o.blockMs,
  });
}

/** The shared readers of a deployment's events streams (also used by workflow status). */
export function eventsTailers(o: TailerSource): FeedTailers<TaskEventRecord> {
  return feedTailers(o, (c) => o.keys.eventStreams(c), 'orq-tail-events', parseEvent);
}

export class FeedSubscriptions {
  private readonly eventsTail: FeedTailers<TaskEventRecord>;
  private readonly resultsTail: FeedTailers<TaskResultRecord>;

  constructor(private readonly opts: FeedSubscriptionsOptions) {
    const classes = [...opts.knownClasses];
    this.eventsTail = opts.eventsTail ?? eventsTailers({ ...opts, classes });
    this.resultsTail = feedTailers({ ...opts, classes }, (c) => opts.keys.resultStreams(c), 'orq-tail-results', parseResult);
  }

  /** The streams a subscription reads: those of `classes` when it names some, else all. */
  private streamsOf<R>(feed: FeedTailers<R>, classes: readonly string[]): MergedOptions<R>['streams'] {
    if (classes.length === 0 || !feed.composite) return feed.streams;
    return classes.flatMap((c) => feed.streamsOf(c));
  }

  /** Subscribers attached to the shared readers now. */
  get subscribers(): number {
    return this.eventsTail.subscribers + this.resultsTail.subscribers;
  }

  private caps(ctx: StreamContext) {
    return { maxBufferedEntries: this.opts.maxBufferedEntries, maxBufferedBytes: this.opts.maxBufferedBytes, signal: ctx.signal, onOverflow: ctx.fail };
  }

  /** Stops the shared readers (the events one only when it is this object's own). */
  async close(): Promise<void> {
    await Promise.all([this.opts.eventsTail ? undefined : this.eventsTail.close(), this.resultsTail.close()]);
  }

  /** Validates an events filter; call before streaming so errors come back as a status. */
  checkEventFilter(f: EventFilter, cursor: string): void {
    for (const t of f.types) {
      if (!(EVENT_TYPES as readonly string[]).includes(t)) throw invalidArgument('types', `unknown event type "${t}" (known: ${EVENT_TYPES.join(', ')})`);
    }
    checkClasses('task_classes', f.taskClasses, this.opts.knownClasses);
    if (cursor) parseFeedCursor('cursor', cursor, this.eventsTail.cursorNames);
  }

  /** Events after `cursor` ("" = only new ones, "0" = all retained) matching the filter. */
  async *events(f: EventFilter, cursor: string, ctx: StreamContext): AsyncGenerator<Cursored<TaskEventRecord>> {
    this.checkEventFilter(f, cursor);
    const start: FeedStart = cursor ? parseFeedCursor('cursor', cursor, this.eventsTail.cursorNames) : { kind: 'each', id: '$' };
    const types = new Set(f.types);
    const classes = new Set(f.taskClasses);
    const ids = new Set(f.taskIds);
    const match = (e: TaskEventRecord) =>
      (!types.size || types.has(e.type)) &&
      (!classes.size || classes.has(e.taskClass)) &&
      (!f.workflowId || e.workflowId === f.workflowId) &&
      (!f.scheduleId || e.scheduleId === f.scheduleId);
    const sub = await openMerged(this.eventsTail, {
      streams: this.streamsOf(this.eventsTail, f.taskClasses),
      start,
      match,
      taskIds: ids.size ? ids : undefined,
      ...this.caps(ctx),
    });
    for await (const { cursor: c, record } of sub.items()) yield { cursor: c, item: record };
  }

  /**
   * Final results matching the selection, each once. Without a cursor, tasks named in `taskIds`
   * that already finished are answered from their records first, then the stream is followed from
   * the moment before that look-up, so nothing finishing in between is missed; other selections
   * read the stream from its oldest retained entry.
   *
   * The results stream holds one entry per outcome that ended a task (the script writing it is
   * the one that ends it); a task retried by RetryTasks ends again, with a later attempt, and that
   * result is delivered too. Only a task answered from its record can be seen twice: its result
   * may also be on the stream after the look-up. Those are remembered by (task id, attempt) until
   * the stream shows them, so what a subscription remembers is bounded by the task ids it names.
   */
  async *results(
    sel: { taskIds: string[]; workflowId: string; taskClass: string; closeWhenDone: boolean; scheduleId?: string },
    cursor: string,
    ctx: StreamContext,
  ): AsyncGenerator<Cursored<TaskResultRecord>> {
    const start: FeedStart | undefined = cursor ? parseFeedCursor('cursor', cursor, this.resultsTail.cursorNames) : undefined;
    if (sel.taskClass) checkClasses('task_class', [sel.taskClass], this.opts.knownClasses);
    if (sel.closeWhenDone && sel.taskIds.length === 0) throw invalidArgument('close_when_done', 'needs task_ids');
    const ids = new Set(sel.taskIds);
    const pending = new Set(ids);
    /** "<task id>\t<attempt>" of results answered from records and not yet seen on the stream. */
    const answered = new Set<string>();
    const matches = (r: TaskResultRecord) =>
      (!ids.size || ids.has(r.taskId)) &&
      (!sel.workflowId || r.workflowId === sel.workflowId) &&
      (!sel.taskClass || r.taskClass === sel.taskClass) &&
      (!sel.scheduleId || r.scheduleId === sel.scheduleId);

    const taskIds = ids.size ? ids : undefined;
    const streams = this.streamsOf(this.resultsTail, sel.taskClass ? [sel.taskClass] : []);
    if (start || !ids.size) {
      const sub = await openMerged(this.resultsTail, { streams, start: start ?? { kind: 'each', id: '0' }, match: matches, taskIds, ...this.caps(ctx) });
      for await (const { cursor: c, record } of sub.items()) {
        pending.delete(record.taskId);
        yield { cursor: c, item: record };
        if (sel.closeWhenDone && pending.size === 0) return;
      }
      return;
    }
    // Named tasks without a cursor: join the live tail first (no round trip once the tailer runs),
    // then read the tasks' records. A result written after a record was read reaches the live
    // buffer; one written before is in the record (the script that writes it ends the task).
    const live = await openMerged(this.resultsTail, { streams, start: { kind: 'each', id: '$' }, match: matches, taskIds, ...this.caps(ctx) });
    try {
      const from = live.from;
      for (const taskId of ids) {
        let view: TaskOutcomeView;
        try {
          view = await this.opts.status.get(taskId);
        } catch (err) {
          if (err instanceof OrchestratorError && err.code === 'not_found') continue;
          throw err;
        }
        const r = resultFromStatus(view);
        if (!r || !matches(r)) continue;
        answered.add(`${r.taskId}\t${r.attempt}`);
        pending.delete(r.taskId);
        yield { cursor: from, item: r };
      }
      if (sel.closeWhenDone && pending.size === 0) return;
      for await (const { cursor: c, record: r } of live.items()) {
        if (answered.size > 0 && answered.delete(`${r.taskId}\t${r.attempt}`)) continue;
        pending.delete(r.taskId);
        yield { cursor: c, item: r };
        if (sel.closeWhenDone && pending.size === 0) return;
      }
    } finally {
      live.close();
    }
  }
}

/** The final result of a task from its status, or undefined while it has none. */
export function resultFromStatus(v: TaskOutcomeView): TaskResultRecord | undefined {
  if (v.state !== 'succeeded' && v.state !== 'failed' && v.state !== 'cancelled') return undefined;
  return {
    taskId: v.taskId,
    taskClass: v.taskClass,
    // As on the stream: 0 for a task cancelled before any attempt ran.
    attempt: v.attempt,
    atMs: v.finishedAtMs,
    state: v.state,
    workflowId: v.workflowId || undefined,
    workerId: v.workerId || undefined,
    resultJson: v.state === 'succeeded' ? v.resultJson : undefined,
    error: v.state === 'succeeded' ? undefined : v.error,
    errorCode: v.failure?.kind,
    durationMs: v.finishedAtMs && v.startedAtMs ? v.finishedAtMs - v.startedAtMs : 0,
    scheduleId: v.scheduleId || undefined,
    failure: v.failure,
    undeliverable: v.undeliverable || undefined,
  };
}
