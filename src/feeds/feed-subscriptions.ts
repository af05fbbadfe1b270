/**
 * Filtered, resumable subscriptions to the feeds, behind StreamEvents and StreamTaskResults.
 * Each item carries its cursor (the stream entry id) so a client that reconnects resumes
 * exactly after the last item it saw. Every subscription reads through the one shared tailer of
 * its stream (stream-tailer.ts): Redis connections do not grow with subscribers.
 */
import type { Keys } from '../store/keys.js';
import type { TaskFailure } from '../errors/task-failure.js';
import { OrchestratorError } from '../errors/errors.js';
import { EVENT_TYPES, parseEvent, parseResult, type TaskEventRecord, type TaskResultRecord } from '../store/codecs/feed-format.js';
import { checkCursor } from './feed-reader.js';
import type { RedisClient } from '../redis/redis-client.js';
import { invalidArgument } from '../errors/errors.js';
import type { Logger } from '../logging/logger.js';
import { StreamTailer } from './stream-tailer.js';

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
  /** The shared reader of the events stream, when another reader (workflow status) uses it too. */
  eventsTail?: StreamTailer<TaskEventRecord>;
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

export class FeedSubscriptions {
  private readonly eventsTail: StreamTailer<TaskEventRecord>;
  private readonly resultsTail: StreamTailer<TaskResultRecord>;

  constructor(private readonly opts: FeedSubscriptionsOptions) {
    const common = { redisUrl: opts.redisUrl, redis: opts.redis, logger: opts.logger, blockMs: opts.blockMs, taskIdOf: (r: { taskId: string }) => r.taskId };
    this.eventsTail =
      opts.eventsTail ??
      new StreamTailer({ ...common, key: opts.keys.events, parse: (f) => parseEvent(f, { maxBytes: opts.maxEntryBytes }), name: 'orq-tail-events' });
    this.resultsTail = new StreamTailer({
      ...common,
      key: opts.keys.results,
      parse: (f) => parseResult(f, { maxBytes: opts.maxEntryBytes }),
      name: 'orq-tail-results',
    });
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
    if (cursor) checkCursor('cursor', cursor);
  }

  /** Events after `cursor` ("" = only new ones, "0" = all retained) matching the filter. */
  async *events(f: EventFilter, cursor: string, ctx: StreamContext): AsyncGenerator<Cursored<TaskEventRecord>> {
    this.checkEventFilter(f, cursor);
    const types = new Set(f.types);
    const classes = new Set(f.taskClasses);
    const ids = new Set(f.taskIds);
    const match = (e: TaskEventRecord) =>
      (!types.size || types.has(e.type)) &&
      (!classes.size || classes.has(e.taskClass)) &&
      (!f.workflowId || e.workflowId === f.workflowId) &&
      (!f.scheduleId || e.scheduleId === f.scheduleId);
    const sub = this.eventsTail.subscribe({ cursor: cursor || '$', match, taskIds: ids.size ? ids : undefined, ...this.caps(ctx) });
    for await (const { id, record } of sub) yield { cursor: id, item: record };
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
    if (cursor) checkCursor('cursor', cursor);
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
    if (cursor || !ids.size) {
      for await (const { id, record } of this.resultsTail.subscribe({ cursor: cursor || '0', match: matches, taskIds, ...this.caps(ctx) })) {
        pending.delete(record.taskId);
        yield { cursor: id, item: record };
        if (sel.closeWhenDone && pending.size === 0) return;
      }
      return;
    }
    // Named tasks without a cursor: join the live tail first (no round trip once the tailer runs),
    // then read the tasks' records. A result written after a record was read reaches the live
    // buffer; one written before is in the record (the script that writes it ends the task).
    const live = await this.resultsTail.open({ cursor: '$', match: matches, taskIds, ...this.caps(ctx) });
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
      for await (const { id, record: r } of live.items()) {
        if (answered.size > 0 && answered.delete(`${r.taskId}\t${r.attempt}`)) continue;
        pending.delete(r.taskId);
        yield { cursor: id, item: r };
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
