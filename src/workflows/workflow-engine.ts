/**
 * The workflow engine: reads the workflow inbox (final outcomes of step tasks, appended by
 * whoever wrote the outcome) in the consumer group "engine" and advances the runs. Every
 * orchestrator process runs one; the group hands each entry to one of them. A staged step's
 * success (single Redis: workflow-runs.ts staged()) is applied by the pool's finish itself and
 * never reaches the inbox.
 *
 * On a Redis Cluster each class has an inbox of its own (src/store/keys.ts workflowInboxes),
 * written with the class's feeds. XREADGROUP over several streams works only when they share a
 * slot, so the inboxes are read in groups of one hash tag, each group by a blocking read of its
 * own (one connection each); claims and dead letters go per inbox, each in its slot.
 *
 * Crash safety:
 * - An entry is acknowledged (and deleted) only after its outcome was applied and what it led to
 *   was done, or left where the sweep finds it: on a single Redis the script that applies it
 *   acknowledges it when it leaves no step to cancel (steps it released and did not queue itself
 *   wait in the releasing zset), else once the steps it released were submitted and its cancels
 *   sent. An entry whose consumer died is claimed by another after `recoverAfterMs` (XCLAIM) and
 *   applied again, which changes nothing the first time did.
 * - Steps released by a process that died before submitting them wait in the releasing zset;
 *   the sweep submits them after `recoverAfterMs`.
 * - An entry that still could not be applied after `maxDeliveries` tries (its outcome, or the
 *   run's state, is such that applying it fails every time) is moved to the dead-letter stream
 *   (`{orq}:wf:inbox:dead`, with its inbox id and tries) instead of being retried for ever, and
 *   its step is recorded as failed with the reason, so the run ends by its failure policy.
 *
 * Why our own engine: BullMQ's flows are trees (one parent per job) that it completes bottom-up;
 * a DAG with fan-in, references to upstream results and failure policies needs more.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { RedisClient } from '../redis/redis-client.js';
import type { Logger } from '../logging/logger.js';
import { createBlockingRedis } from '../redis/connection.js';
import { hashTag } from '../redis/hash-tag.js';
import type { InboxStream, Keys } from '../store/keys.js';
import { parseResult, type RawEntry } from '../store/codecs/feed-format.js';
import type { WorkflowRuns } from './workflow-runs.js';
import type { WorkflowRunList } from './run-list.js';
import { takeOverInbox } from '../store/workflows/take-over-inbox.js';
import { ackInboxEntries, ensureInboxGroup, forgetIdleInboxConsumers } from '../store/workflows/inbox-group.js';

export const ENGINE_GROUP = 'engine';

export interface WorkflowEngineOptions {
  redis: RedisClient;
  redisUrl: string;
  keys: Keys;
  /** The configured classes: on a cluster each has its inbox. */
  taskClasses: readonly string[];
  runs: WorkflowRuns;
  /** Its index is pruned of expired runs a slice per sweep. */
  runList?: WorkflowRunList;
  logger: Logger;
  /** Time after which another process takes over an unfinished entry or release. */
  recoverAfterMs: number;
  /** How often the sweep looks for such work. */
  sweepIntervalMs: number;
  /** Tries an inbox entry gets before it is dead-lettered. */
  maxDeliveries: number;
}

/** Entries read at once. */
const BATCH = 200;
/** A consumer idle this long with nothing pending is removed from the group. */
const FORGET_CONSUMER_MS = 3_600_000;
/** Entries the dead-letter stream keeps (approximately: MAXLEN ~). */
const DEAD_MAXLEN = 10_000;

export class WorkflowEngine {
  readonly consumer = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly log: Logger;
  private readonly inboxes: InboxStream[];
  private readonly blocking: RedisClient[] = [];
  private loops: Promise<void>[] = [];
  private sweepTimer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;
  private closed = false;
  /** Resolves on close(): a blocking read queued while Redis is away never settles by itself. */
  private readonly closing: Promise<null>;
  private signalClose = () => {};
  private readonly takeOverCmd: ReturnType<typeof takeOverInbox>;

  constructor(private readonly opts: WorkflowEngineOptions) {
    this.log = opts.logger.child({ component: 'workflow-engine', consumer: this.consumer });
    this.closing = new Promise((resolve) => (this.signalClose = () => resolve(null)));
    this.takeOverCmd = takeOverInbox(opts.redis);
    this.inboxes = opts.keys.workflowInboxes(opts.taskClasses);
  }

  async start(): Promise<void> {
    for (const inbox of this.inboxes) await ensureInboxGroup(this.opts.redis, inbox, ENGINE_GROUP);
    const bySlot = new Map<string, InboxStream[]>();
    for (const inbox of this.inboxes) {
      const tag = hashTag(inbox.key);
      const group = bySlot.get(tag);
      if (group) group.push(inbox);
      else bySlot.set(tag, [inbox]);
    }
    for (const group of bySlot.values()) {
      const blocking = createBlockingRedis(this.opts.redisUrl);
      this.blocking.push(blocking);
      this.loops.push(this.readLoop(blocking, group));
    }
    this.sweepTimer = setInterval(() => {
      this.sweeping ??= this.sweep().finally(() => (this.sweeping = undefined));
    }, this.opts.sweepIntervalMs);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.signalClose();
    clearInterval(this.sweepTimer);
    for (const b of this.blocking) b.disconnect();
    await Promise.all([...this.loops, this.sweeping]);
  }

  /** Reads `inboxes` (of one hash tag) on `blocking`, its own connection. */
  private async readLoop(blocking: RedisClient, inboxes: InboxStream[]): Promise<void> {
    const byKey = new Map(inboxes.map((i) => [i.key, i]));
    const streams = [...inboxes.map((i) => i.key), ...inboxes.map(() => '>')];
    let failures = 0;
    while (!this.closed) {
      try {
        const read = blocking.xreadgroup('GROUP', ENGINE_GROUP, this.consumer, 'COUNT', BATCH, 'BLOCK', 2_000, 'STREAMS', ...streams);
        read.catch(() => undefined);
        const reply = (await Promise.race([read, this.closing])) as [string, RawEntry[]][] | null;
        if (this.closed) return;
        failures = 0;
        for (const [key, entries] of reply ?? []) {
          const inbox = byKey.get(key);
          if (inbox) await this.handle(inbox, entries);
        }
      } catch (err) {
        if (this.closed) return;
        failures += 1;
        this.log.warn({ err }, 'reading the workflow inbox failed; retrying');
        await Promise.race([new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** failures)).unref()), this.closing]);
      }
    }
  }

  /**
   * Applies entries side by side (each outcome is applied atomically by its own script, so their
   * order does not matter, and the scripts share round trips); acks what was applied.
   */
  private async handle(inbox: InboxStream, entries: RawEntry[]): Promise<void> {
    const done: string[] = [];
    await Promise.all(
      entries.map(async (e) => {
        if (!e?.[1]) return;
        try {
          const { acked } = await this.opts.runs.stepFinished(parseResult(e[1]), { key: inbox.key, group: ENGINE_GROUP, entry: e[0] });
          if (!acked) done.push(e[0]);
        } catch (err) {
          // Left pending: claimed again after recoverAfterMs.
          this.log.warn({ err, entry: e[0] }, 'could not apply a step outcome; will retry');
        }
      }),
    );
    await ackInboxEntries(this.opts.redis, inbox, ENGINE_GROUP, done);
  }

  /** Takes over entries and releases left unfinished by processes that died. */
  private async sweep(): Promise<void> {
    const { recoverAfterMs } = this.opts;
    try {
      for (const inbox of this.inboxes) {
        if (this.closed) break;
        await this.takeOver(inbox);
      }
      while (!this.closed && (await this.opts.runs.recoverReleasing(recoverAfterMs)) > 0);
      await this.opts.runList?.pruneSlice();
      for (const inbox of this.inboxes) await forgetIdleInboxConsumers(this.opts.redis, inbox, ENGINE_GROUP, this.consumer, FORGET_CONSUMER_MS);
    } catch (err) {
      if (!this.closed) this.log.warn({ err }, 'workflow sweep failed');
    }
  }

  /** Takes over what stopped consumers left in one inbox. */
  private async takeOver(inbox: InboxStream): Promise<void> {
    const { recoverAfterMs, maxDeliveries } = this.opts;
    for (let start = '-'; ;) {
      // Dead-letters entries tried maxDeliveries times, claims the other idle ones.
      const { dead, claimed, last, looked } = await this.takeOverCmd(inbox, {
        group: ENGINE_GROUP,
        consumer: this.consumer,
        minIdleMs: recoverAfterMs,
        maxDeliveries,
        count: BATCH,
        deadMaxLen: DEAD_MAXLEN,
        start,
      });
      for (const [id, tries, fields] of dead) await this.failDeadLettered(inbox, id, tries, fields);
      if (claimed.length) {
        this.log.info({ entries: claimed.length, inbox: inbox.key }, 'taking over workflow inbox entries of a stopped consumer');
        await this.handle(inbox, claimed);
      }
      if (looked < BATCH || this.closed) return;
      start = `(${last}`;
    }
  }

  /**
   * An entry moved to the dead-letter stream after `tries` deliveries: its step is recorded as
   * failed, naming why, so that its run ends (by its failure policy) instead of waiting for an
   * outcome that will never apply. Should that fail too, the run is cancelled with the reason.
   */
  private async failDeadLettered(inbox: InboxStream, id: string, tries: number, fields: string[]): Promise<void> {
    const r = parseResult(fields);
    const reason = `its ${r.state} outcome could not be applied after ${tries} tries (kept in ${inbox.dead} as inbox entry ${id})`;
    this.log.error({ entry: id, taskId: r.taskId, runId: r.workflowId }, `workflow inbox entry dead-lettered: ${reason}`);
    if (!r.workflowId) return;
    try {
      await this.opts.runs.stepFinished({ ...r, state: 'failed', error: reason, errorCode: 'task_failed', resultJson: undefined });
    } catch (err) {
      this.log.error({ err, runId: r.workflowId, taskId: r.taskId }, 'could not record the step as failed either; cancelling its run');
      await this.opts.runs.cancel(r.workflowId, `step task ${r.taskId}: ${reason}`).catch((e: unknown) => {
        this.log.error({ err: e, runId: r.workflowId }, 'could not cancel the run: cancel it by hand (CancelWorkflowRun)');
      });
    }
  }
}
