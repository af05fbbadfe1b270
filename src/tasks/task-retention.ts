/**
 * Retention: how many finished tasks Redis keeps, and PurgeTasks.
 *
 * Why not BullMQ's removeOnComplete / removeOnFail: BullMQ removes a job silently, so the task's
 * own entries (index, task list, cancel mark) would outlive it and grow without bound. The pools'
 * Workers therefore keep every finished job, and this sweeper removes the oldest beyond each
 * class's keepCompleted / keepFailed (count and age, queues/task-classes.ts) together with those
 * entries. PurgeTasks removes through the same code (`removeTasks`).
 *
 * One orchestrator sweeps at a time: the one holding `{<prefix>}:retention:lock`. Another takes
 * over within a lock time-to-live when it stops.
 *
 * What bounds Redis's key count, per class: keepCompleted.count + keepFailed.count finished jobs
 * (one hash each), plus the tasks not yet finished, plus what finished since the last sweep. The
 * index hash and the task lists hold one entry per retained task.
 *
 * Counts do not bound bytes (10,000 kept results of 1 MiB are 10 GiB), so with maxFinishedBytes
 * the finished tasks of all classes together are also kept within a byte bound, estimated from
 * sampled MEMORY USAGE (finishedBytes), the oldest going first whatever their class (trimBytes).
 *
 * A task removed by a cancel while it was queued has no job; its entries go once they are older
 * than `orphanGraceMs` (the grace also covers a task claimed but not yet in its queue).
 */
import { partitionShare } from './partition-share.js';
import type { RedisClient } from '../redis/redis-client.js';
import type { Logger } from '../logging/logger.js';
import type { Keys } from '../store/keys.js';
import { invalidArgument } from '../errors/errors.js';
import type { TaskQueues } from './task-queues.js';
import type { TaskState } from './task-status.js';
import { forgetTasks, forgetTasksKeys } from '../store/tasks/forget-tasks.js';
import type { WrittenKeys } from '../redis/replica-wait.js';
import { listEntries } from '../store/lists/list-entries.js';
import { removeFinishedTasks } from '../store/tasks/remove-finished-tasks.js';
import { holdLock } from '../store/locks/hold-lock.js';
import { releaseLock } from '../store/locks/release-lock.js';
import { joblessTasks } from '../store/tasks/jobless-tasks.js';
import { settleTaskIds } from '../store/tasks/settle-task-ids.js';
import { readIndexBucket } from '../store/tasks/read-task-index.js';
import { decodeTaskIndex } from '../store/codecs/task-index.js';
import { groupBy } from '../store/group-by.js';
import { TASK_INDEX_BUCKETS } from '../store/keys.js';
import { sampleFinishedJobs } from '../store/tasks/sample-finished-jobs.js';
import { repeatLimited, type RepeatedLog } from '../logging/repeat-limiter.js';

export interface TaskRetentionOptions {
  redis: RedisClient;
  keys: Keys;
  queues: TaskQueues;
  logger: Logger;
  /** This orchestrator's name on the lock. */
  ownerId: string;
  /** Pause between sweeps. @default 1000 */
  intervalMs?: number;
  /** Age after which a task's entries go when its job is gone. @default 300000 */
  orphanGraceMs?: number;
  /** Most bytes finished tasks may take (retention.maxFinishedBytes, or its fraction of maxmemory), asked at each sweep; 0: no byte bound. @default none */
  maxFinishedBytes?: () => number;
}

/** A finished task's estimated size in Redis and the bytes it was estimated with. */
export interface FinishedBytes {
  /** Estimated bytes of all finished tasks. */
  totalBytes: number;
  /**
   * Per class (partition: "<class>.<p>" for p > 0) and kind ("cpu_short:completed"): finished
   * tasks and their estimated mean size.
   */
  sets: Map<string, { count: number; meanBytes: number; taskClass: string; part: number; kind: 'completed' | 'failed' }>;
}

export interface PurgeRequest {
  /** Only tasks finished at least this long ago; 0: all finished tasks. */
  olderThanMs: number;
  /** Empty: all classes. */
  taskClasses: string[];
  /** Among succeeded, failed, cancelled; empty: all three. */
  states: TaskState[];
}

/** Tasks removed per step (one pipelined removal and one MULTI of entries). */
const BATCH = 500;
/** Task-list entries checked for a missing job per class per orphan scan. */
const ORPHAN_SCAN = 500;
/** Orphans are rare (cancels of queued tasks, removals by hand): one scan every this many sweeps. */
const ORPHAN_SCAN_EVERY = 10;
/** On a Redis Cluster: index buckets read per orphan scan for claims whose task was never added (4096 buckets: a pass in about 85 minutes at the defaults). */
const CLAIM_SCAN_BUCKETS = 8;
/** Jobs of each finished set whose MEMORY USAGE is read per sweep to estimate the set's bytes. */
const SIZE_SAMPLES = 8;
/**
 * Bytes a finished task takes beyond its job hash: its entries in the index buckets, its class's
 * task list and its queue's finished set (bench/redis-sizing.ts measured 190 to 270 with ids of
 * about 20 characters; the most is taken, so the bound errs on the side of removing). The events and results streams are not counted: they are bounded by
 * their own MAXLEN.
 */
export const TASK_ENTRY_BYTES = 270;

export class TaskRetention {
  private readonly forget: ReturnType<typeof forgetTasks>;
  private readonly removeFinished: ReturnType<typeof removeFinishedTasks>;
  private readonly hold: ReturnType<typeof holdLock>;
  private readonly release: ReturnType<typeof releaseLock>;
  private readonly sample: ReturnType<typeof sampleFinishedJobs>;
  /** Of these tasks of a class, those whose job is gone. */
  private readonly jobless: ReturnType<typeof joblessTasks>;
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private closed = false;
  /** On a cluster: the next index bucket the claim scan reads. */
  private claimAt = 0;
  private readonly settle: ReturnType<typeof settleTaskIds>;
  /** Per class: where the orphan scan goes on from (an XRANGE start of its task list: "-" or "(<entry id>"). */
  private readonly orphanAt = new Map<string, string>();
  private readonly log: Logger;
  /** A sweep fails every second while Redis is down: logged once per 30 s. */
  private readonly sweepFailed: RepeatedLog;
  private sweeps = 0;
  /** Per class and kind: the estimated mean bytes of a finished task, smoothed over sweeps. */
  private readonly meanBytes = new Map<string, number>();

  constructor(private readonly opts: TaskRetentionOptions) {
    this.forget = forgetTasks(opts.redis, opts.keys);
    this.removeFinished = removeFinishedTasks(opts.redis, opts.keys);
    this.hold = holdLock(opts.redis, opts.keys.retentionLock);
    this.release = releaseLock(opts.redis, opts.keys.retentionLock);
    this.sample = sampleFinishedJobs(opts.redis, opts.keys);
    this.jobless = joblessTasks(opts.redis, opts.keys);
    this.settle = settleTaskIds(opts.redis, opts.keys);
    this.log = opts.logger.child({ component: 'retention' });
    this.sweepFailed = repeatLimited(this.log, 'warn');
  }

  private get intervalMs(): number {
    return this.opts.intervalMs ?? 1_000;
  }

  start(): void {
    const tick = () => {
      if (this.closed) return;
      this.running = this.sweepIfLeader()
        .catch((err) => this.sweepFailed(err, 'retention sweep failed'))
        .finally(() => {
          if (!this.closed) this.timer = setTimeout(tick, this.intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
    await this.release(this.opts.ownerId).catch(() => undefined);
  }

  /** Sweeps when this orchestrator holds (or takes) the lock. */
  private async sweepIfLeader(): Promise<void> {
    if (!(await this.holdLock())) return;
    await this.sweep(() => this.holdLock());
  }

  private async holdLock(): Promise<boolean> {
    return this.hold(this.opts.ownerId, Math.max(30_000, this.intervalMs * 10));
  }

  /**
   * One pass over every class; returns how many tasks were removed. `stillLeader` is asked
   * before each class (it extends the lock), so a long sweep does not outlive its lock.
   */
  async sweep(stillLeader: () => Promise<boolean> = async () => true): Promise<number> {
    let removed = 0;
    const orphans = this.sweeps++ % ORPHAN_SCAN_EVERY === 0;
    for (const [name, cls] of this.opts.queues.classes) {
      if (!(await stillLeader())) return removed;
      // A partitioned class keeps its count split over its partitions (partition-share.ts).
      const n = this.opts.keys.partitionCount(name);
      const share = (keep: { count: number; ageMs: number }, p: number) => ({ ...keep, count: partitionShare(keep.count, n, p) });
      for (const p of this.opts.keys.partitions(name)) {
        removed += await this.trim(name, p, 'completed', share(cls.keepCompleted, p));
        removed += await this.trim(name, p, 'failed', share(cls.keepFailed, p));
        if (orphans) removed += await this.sweepOrphans(name, p);
      }
    }
    if (orphans && this.opts.keys.cluster && (await stillLeader())) await this.sweepClaims(CLAIM_SCAN_BUCKETS);
    const maxBytes = this.opts.maxFinishedBytes?.() ?? 0;
    if (maxBytes > 0 && (await stillLeader())) removed += await this.trimBytes(maxBytes);
    return removed;
  }

  /**
   * On a Redis Cluster, where a submission claims its ids before it adds their tasks
   * (src/store/tasks/submit-tasks.ts submitApart): reads the next `buckets` index buckets and
   * releases the claims older than the orphan grace whose task was never added (no job, no
   * cancel mark): left by a front end stopped between the steps, and not completed by a retry
   * since; one with a cancel mark (a workflow step cancelled before its task was added) is
   * forgotten with its mark. Returns how many went.
   */
  async sweepClaims(buckets: number): Promise<number> {
    const ns: number[] = [];
    for (let k = 0; k < buckets; k++) {
      ns.push(this.claimAt);
      this.claimAt = (this.claimAt + 1) % TASK_INDEX_BUCKETS;
    }
    return this.releaseStaleClaims(ns);
  }

  /** sweepClaims' work on the index buckets numbered `buckets`. */
  async releaseStaleClaims(buckets: readonly number[]): Promise<number> {
    const { redis, keys } = this.opts;
    const before = Date.now() - (this.opts.orphanGraceMs ?? 300_000);
    const stale: { taskId: string; taskClass: string; indexValue: string }[] = [];
    for (const n of buckets) {
      for (const [taskId, value] of Object.entries(await readIndexBucket(redis, keys, n))) {
        const v = decodeTaskIndex(value);
        const at = v.listEntry === '' && /^\d{1,15}$/.test(v.claimedMs) ? Number(v.claimedMs) : undefined;
        if (at !== undefined && at < before && this.opts.queues.classes.has(v.taskClass)) {
          stale.push({ taskId, taskClass: v.taskClass, indexValue: `${v.taskClass}\t${v.digest}` });
        }
      }
    }
    if (stale.length === 0) return 0;
    const orphans: typeof stale = [];
    let forgotten = 0;
    for (const [, claims] of groupBy(stale, (c) => `${c.taskClass}\t${keys.partitionOf(c.taskClass, c.taskId)}`)) {
      const taskClass = claims[0]!.taskClass;
      const ids = claims.map((c) => c.taskId);
      const gone = new Set(await this.jobless(taskClass, ids));
      const marks = await redis.hmget(keys.cancelOf(taskClass, keys.partitionOf(taskClass, ids[0]!)), ...ids);
      // Cancelled before it was added (a workflow step whose run stopped while it was released):
      // its claim and its cancel mark go, as a forgotten task's.
      const cancelled = ids.filter((id, i) => gone.has(id) && marks[i] !== null);
      if (cancelled.length > 0) forgotten += await this.forget(taskClass, cancelled);
      claims.forEach((c, i) => {
        if (gone.has(c.taskId) && marks[i] === null) orphans.push(c);
      });
    }
    const released = orphans.length ? await this.settle(orphans.map((c) => ({ taskId: c.taskId, indexValue: c.indexValue, entry: '' }))) : 0;
    if (released + forgotten > 0) this.log.info({ released, forgotten }, 'claims of submissions that never added their tasks released');
    return released + forgotten;
  }

  /**
   * Estimates the bytes finished tasks take: per class and kind, the set's size times the mean
   * MEMORY USAGE of up to SIZE_SAMPLES random jobs of it with their log lists (plus TASK_ENTRY_BYTES each), smoothed
   * over sweeps. Two pipelined round trips whatever the number of tasks (sample-finished-jobs.ts).
   */
  async finishedBytes(): Promise<FinishedBytes> {
    const { queues } = this.opts;
    const sets: [string, 'completed' | 'failed', string, number][] = [];
    for (const { taskClass, partition, queue } of queues.each())
      for (const kind of ['completed', 'failed'] as const) sets.push([taskClass, kind, queue.keys[kind]!, partition]);
    const samples = await this.sample(
      sets.map(([taskClass, , set]) => ({ taskClass, set })),
      SIZE_SAMPLES,
    );
    const out: FinishedBytes = { totalBytes: 0, sets: new Map() };
    sets.forEach(([taskClass, kind, , part], i) => {
      const name = part > 0 ? `${taskClass}.${part}` : taskClass;
      const { count, jobBytes: bytes } = samples[i]!;
      // A job removed between the two reads answers nil: it is left out of the mean.
      const present = bytes.filter((b) => b > 0);
      const sampledMean = (present.length ? present.reduce((a, b) => a + b, 0) / present.length : 0) + TASK_ENTRY_BYTES;
      // Smoothed over sweeps: a fresh random sample each second would otherwise swing the
      // estimate, and each swing upwards would remove a few more tasks than the bound needs.
      const key = `${name}:${kind}`;
      const previous = this.meanBytes.get(key);
      const meanBytes = previous === undefined || present.length === 0 ? sampledMean : previous * 0.75 + sampledMean * 0.25;
      if (present.length > 0) this.meanBytes.set(key, meanBytes);
      out.sets.set(key, { count, meanBytes, taskClass, part, kind });
      out.totalBytes += count * meanBytes;
    });
    return out;
  }

  /**
   * Removes the oldest finished tasks, across classes and kinds, until the estimate is within
   * `maxBytes`. Each step takes the oldest BATCH of every set, merges them by finish time and
   * removes from the front as many as the excess needs, through removeTasks (the same removal as
   * the count and age bounds: only jobs still finished go).
   */
  private async trimBytes(maxBytes: number): Promise<number> {
    const { redis, queues } = this.opts;
    const estimate = await this.finishedBytes();
    let excess = estimate.totalBytes - maxBytes;
    let removed = 0;
    while (excess > 0) {
      const candidates: { score: number; id: string; set: string; bytes: number }[] = [];
      for (const [set, { count, meanBytes, taskClass, part, kind }] of estimate.sets) {
        if (count === 0) continue;
        const flat = await redis.zrange(queues.partitionsOf(taskClass)[part]!.keys[kind]!, 0, BATCH - 1, 'WITHSCORES');
        for (let i = 0; i < flat.length; i += 2) candidates.push({ id: flat[i]!, score: Number(flat[i + 1]), set, bytes: meanBytes });
      }
      candidates.sort((a, b) => a.score - b.score);
      const chosen = new Map<string, string[]>();
      let freed = 0;
      for (const c of candidates) {
        if (freed >= excess) break;
        freed += c.bytes;
        const list = chosen.get(c.set);
        if (list) list.push(c.id);
        else chosen.set(c.set, [c.id]);
      }
      let n = 0;
      for (const [set, ids] of chosen) {
        const s = estimate.sets.get(set)!;
        const done = await this.removeTasks(s.taskClass, s.part, s.kind, ids);
        n += done;
        excess -= done * s.meanBytes;
        s.count -= done;
      }
      removed += n;
      if (n === 0) break;
    }
    if (removed > 0)
      this.log.debug({ removed, maxBytes, estimatedBytes: Math.round(estimate.totalBytes) }, 'finished tasks over the byte bound removed, oldest first');
    return removed;
  }

  /**
   * Removes the oldest finished jobs of one kind beyond `keep.count`, and those older than
   * `keep.ageMs` (0: no age limit). BullMQ scores its finished sets by finish time.
   */
  private async trim(taskClass: string, part: number, kind: 'completed' | 'failed', keep: { count: number; ageMs: number }): Promise<number> {
    const { redis, queues } = this.opts;
    const set = queues.partitionsOf(taskClass)[part]!.keys[kind]!;
    let removed = 0;
    for (;;) {
      const excess = (await redis.zcard(set)) - keep.count;
      const ids = new Set(excess > 0 ? await redis.zrange(set, 0, Math.min(excess, BATCH) - 1) : []);
      if (keep.ageMs > 0) for (const id of await redis.zrangebyscore(set, '-inf', Date.now() - keep.ageMs, 'LIMIT', 0, BATCH)) ids.add(id);
      if (ids.size === 0) return removed;
      const n = await this.removeTasks(taskClass, part, kind, [...ids]);
      removed += n;
      // Nothing could be removed (retried meanwhile): try again next sweep.
      if (n === 0 || ids.size < BATCH) return removed;
    }
  }

  /** Forgets, a slice per sweep, tasks whose job is gone (cancelled while queued, or removed by hand). */
  private async sweepOrphans(taskClass: string, part: number): Promise<number> {
    const { redis, keys } = this.opts;
    const at = `${taskClass}\t${part}`;
    const from = this.orphanAt.get(at) ?? '-';
    const before = Date.now() - (this.opts.orphanGraceMs ?? 300_000);
    const page = await listEntries(redis, keys.taskList(taskClass, part), from, before, ORPHAN_SCAN);
    // The next slice starts after this one's last entry (forgotten ones leave the list).
    this.orphanAt.set(at, page.length < ORPHAN_SCAN ? '-' : `(${page[page.length - 1]!.entry}`);
    if (page.length === 0) return 0;
    const gone = await this.jobless(
      taskClass,
      page.map((e) => e.id),
    );
    if (gone.length === 0) return 0;
    // Their list entries as read, for a task whose index value lacks its own (codecs/task-index.ts).
    return this.forgetTasks(taskClass, gone, undefined, entriesOf(page, gone));
  }

  /**
   * PurgeTasks of cancelled tasks whose job a cancel removed while they were queued: they have
   * no finish time on record, so those submitted before `cutoff` go.
   */
  private async purgeCancelledQueued(taskClass: string, part: number, cutoff: number, written?: WrittenKeys): Promise<number> {
    const { redis, keys } = this.opts;
    let removed = 0;
    for (let from = '-'; ;) {
      const page = await listEntries(redis, keys.taskList(taskClass, part), from, cutoff, BATCH);
      if (page.length === 0) return removed;
      const gone = await this.jobless(
        taskClass,
        page.map((e) => e.id),
      );
      const marks = gone.length ? await redis.hmget(keys.cancelOf(taskClass, part), ...gone) : [];
      const cancelled = gone.filter((_, i) => marks[i] !== null);
      const n = cancelled.length ? await this.forgetTasks(taskClass, cancelled, written, entriesOf(page, cancelled)) : 0;
      removed += n;
      from = `(${page[page.length - 1]!.entry}`;
      if (page.length < BATCH) return removed;
    }
  }

  /**
   * Removes finished tasks for good: their jobs, those still in the `kind` set when the removal
   * runs (src/store/tasks/remove-finished-tasks.ts), then their own entries. Retention and PurgeTasks both remove
   * through here. Returns how many were removed.
   */
  async removeTasks(taskClass: string, part: number, kind: 'completed' | 'failed', ids: string[], written?: WrittenKeys): Promise<number> {
    const set = this.opts.queues.partitionsOf(taskClass)[part]!.keys[kind]!;
    written?.note(this.opts.redis, set);
    let n = 0;
    for (let i = 0; i < ids.length; i += BATCH) {
      const done = await this.removeFinished(taskClass, part, set, ids.slice(i, i + BATCH));
      await this.forgetTasks(taskClass, done, written);
      n += done.length;
    }
    return n;
  }

  /** `listEntries`: entries of these tasks read from their task list (at most one page, forgotten with the first batch). */
  private async forgetTasks(taskClass: string, ids: string[], written?: WrittenKeys, listEntries?: string[]): Promise<number> {
    if (written && ids.length)
      for (const k of forgetTasksKeys(this.opts.keys, taskClass, ids, this.opts.keys.partitionOf(taskClass, ids[0]!))) written.note(this.opts.redis, k);
    let n = 0;
    for (let i = 0; i < ids.length; i += BATCH) n += await this.forget(taskClass, ids.slice(i, i + BATCH), i === 0 ? listEntries : undefined);
    return n;
  }

  /** PurgeTasks: finished tasks older than an age, by class and state. Returns how many went. */
  async purge(req: PurgeRequest, written?: WrittenKeys): Promise<number> {
    const { redis, keys, queues } = this.opts;
    if (!Number.isSafeInteger(req.olderThanMs) || req.olderThanMs < 0) throw invalidArgument('older_than_ms', `must not be negative, got ${req.olderThanMs}`);
    for (const c of req.taskClasses) queues.partitionsOf(c, 'task_classes');
    for (const s of req.states) {
      if (s !== 'succeeded' && s !== 'failed' && s !== 'cancelled') {
        throw invalidArgument('states', `only finished states (succeeded, failed, cancelled) can be purged, got ${s}`);
      }
    }
    const states = new Set<TaskState>(req.states.length ? req.states : ['succeeded', 'failed', 'cancelled']);
    const cutoff = Date.now() - req.olderThanMs;
    const classes = req.taskClasses.length ? [...new Set(req.taskClasses)] : [...queues.classes.keys()];
    let removed = 0;
    for (const cls of classes) {
      for (const [part, q] of queues.partitionsOf(cls).entries()) {
        const kinds: ['completed' | 'failed', (cancelled: boolean) => boolean][] = [];
        if (states.has('succeeded')) kinds.push(['completed', () => true]);
        if (states.has('failed') || states.has('cancelled')) kinds.push(['failed', (cancelled) => states.has(cancelled ? 'cancelled' : 'failed')]);
        for (const [kind, wanted] of kinds) {
          // Noted whether or not anything goes: the repeat of a purge answered UNAVAILABLE finds
          // nothing left to remove and must still wait for the removals it repeats.
          written?.note(redis, q.keys[kind]!);
          let offset = 0;
          for (;;) {
            const ids = await redis.zrangebyscore(q.keys[kind]!, '-inf', cutoff, 'LIMIT', offset, BATCH);
            if (ids.length === 0) break;
            const marks = kind === 'failed' ? await redis.hmget(keys.cancelOf(cls, part), ...ids) : ids.map(() => null);
            const take = ids.filter((_, i) => wanted(marks[i] !== null));
            const n = take.length ? await this.removeTasks(cls, part, kind, take, written) : 0;
            removed += n;
            // What stays (not wanted, or locked) is skipped on the next read.
            offset += ids.length - n;
            if (ids.length < BATCH) break;
          }
        }
        if (states.has('cancelled')) removed += await this.purgeCancelledQueued(cls, part, cutoff, written);
      }
    }
    return removed;
  }
}

/** The entry ids of `page` whose task is one of `ids`. */
function entriesOf(page: readonly { id: string; entry: string }[], ids: readonly string[]): string[] {
  const wanted = new Set(ids);
  return page.filter((e) => wanted.has(e.id)).map((e) => e.entry);
}
