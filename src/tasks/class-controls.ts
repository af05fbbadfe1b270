/**
 * Flow control of a class at run time: per-pool concurrency, a cluster-wide concurrency cap, a
 * rate limit, pause and resume. The cap, the rate limit and pause are BullMQ's own (kept in the
 * queue's meta hash and honoured by every Worker when it takes a job); the per-pool concurrency
 * is ours: kept in `{prefix}:limits` so new pools pick it up, and announced on a channel so
 * running pools apply it at once (workers/worker-pool.ts).
 *
 * A partitioned class (`classes.<name>.partitions` on a Redis Cluster) has one queue per
 * partition: pause and resume act on every one, and a cap or rate limit of C is split over the N
 * partitions, partition p getting floor(C/N) plus one for p < C mod N, so that together they never
 * allow more than C (a partition may sit at its share while another has room: the class can run
 * fewer than C at once when its work is uneven). Each partition needs at least one, so such a
 * class takes a cap or a rate limit of at least N; what get() reports is the partitions' sum.
 */
import type { RedisClient } from '../redis/redis-client.js';
import type { Keys } from '../store/keys.js';
import { setPoolConcurrency } from '../store/classes/set-pool-concurrency.js';
import { invalidArgument } from '../errors/errors.js';
import type { TaskQueues } from './task-queues.js';
import { partitionShare } from './partition-share.js';
import type { WrittenKeys } from '../redis/replica-wait.js';

export interface ClassLimitsView {
  taskClass: string;
  /** 0: the pools' configured concurrency. */
  poolConcurrency: number;
  /** 0: no cap. */
  globalConcurrency: number;
  /** 0: no rate limit. */
  rateLimitMax: number;
  rateLimitDurationMs: number;
  paused: boolean;
}

export interface ClassLimitsChange {
  poolConcurrency?: number;
  globalConcurrency?: number;
  rateLimitMax?: number;
  rateLimitDurationMs?: number;
}

export interface ClassControlsOptions {
  redis: RedisClient;
  keys: Keys;
  queues: TaskQueues;
  /**
   * The connections changes write on (src/redis/write-connections.ts): ours for the per-pool
   * concurrency, the class queues over BullMQ's for the rest. @default redis and queues
   */
  writes?: { redis: RedisClient; queues: TaskQueues };
}

/** Upper bound of any limit a client may set. */
const MAX_LIMIT = 1_000_000;

function checkLimit(field: string, v: number | undefined): void {
  if (v === undefined) return;
  if (!Number.isInteger(v) || v < 0 || v > MAX_LIMIT) throw invalidArgument(field, `must be an integer from 0 to ${MAX_LIMIT}, got ${v}`);
}

/** The per-pool concurrency overrides of `classes` (0 where none is set). */
export async function poolConcurrencyOverrides(redis: RedisClient, keys: Keys, classes: string[]): Promise<Map<string, number>> {
  if (classes.length === 0) return new Map();
  const values = await redis.hmget(keys.limits, ...classes);
  return new Map(classes.map((c, i) => [c, Number(values[i] ?? 0)]));
}

export class ClassControls {
  private readonly setPoolConcurrency: ReturnType<typeof setPoolConcurrency>;

  constructor(private readonly opts: ClassControlsOptions) {
    this.setPoolConcurrency = setPoolConcurrency(this.writes.redis, opts.keys);
  }

  private get writes(): { redis: RedisClient; queues: TaskQueues } {
    return this.opts.writes ?? this.opts;
  }

  async get(taskClass: string): Promise<ClassLimitsView> {
    const queues = this.opts.queues.partitionsOf(taskClass);
    const [metas, overrides] = await Promise.all([
      Promise.all(queues.map((q) => q.getMeta())),
      poolConcurrencyOverrides(this.opts.redis, this.opts.keys, [taskClass]),
    ]);
    const ms = metas as { concurrency?: number; max?: number; duration?: number; paused?: boolean }[];
    const sum = (f: (m: (typeof ms)[number]) => number | undefined) => ms.reduce((n, m) => n + Number(f(m) ?? 0), 0);
    return {
      taskClass,
      poolConcurrency: overrides.get(taskClass) ?? 0,
      globalConcurrency: sum((m) => m.concurrency),
      rateLimitMax: sum((m) => m.max),
      rateLimitDurationMs: Number(ms[0]?.duration ?? 0),
      paused: ms.every((m) => Boolean(m.paused)),
    };
  }

  /**
   * `written`: where a caller's acknowledgement notes what was written (src/redis/replica-wait.ts):
   * BullMQ's limits live in the queue's meta hash, written on the queues' connection.
   */
  async set(taskClass: string, change: ClassLimitsChange, written?: WrittenKeys): Promise<ClassLimitsView> {
    const queues = this.writes.queues.partitionsOf(taskClass);
    const n = queues.length;
    checkLimit('pool_concurrency', change.poolConcurrency);
    checkLimit('global_concurrency', change.globalConcurrency);
    checkLimit('rate_limit_max', change.rateLimitMax);
    checkLimit('rate_limit_duration_ms', change.rateLimitDurationMs);
    // Split over the partitions, a cap below N would leave a partition with none at all.
    const atLeastPartitions = (field: string, v: number | undefined) => {
      if (v !== undefined && v > 0 && v < n) throw invalidArgument(field, `class "${taskClass}" has ${n} partitions: set 0 (none) or at least ${n}, got ${v}`);
    };
    atLeastPartitions('global_concurrency', change.globalConcurrency);
    atLeastPartitions('rate_limit_max', change.rateLimitMax);
    const current = await this.get(taskClass);
    const max = change.rateLimitMax ?? current.rateLimitMax;
    const duration = change.rateLimitDurationMs ?? current.rateLimitDurationMs;
    if (max > 0 && duration === 0) throw invalidArgument('rate_limit_duration_ms', 'a rate limit needs a duration');

    if (change.globalConcurrency !== undefined || change.rateLimitMax !== undefined || change.rateLimitDurationMs !== undefined) {
      for (const q of queues) written?.note(this.writes.queues.connection, q.keys.meta!);
    }
    if (change.globalConcurrency !== undefined) {
      const cap = change.globalConcurrency;
      await Promise.all(queues.map((q, p) => (cap === 0 ? q.removeGlobalConcurrency() : q.setGlobalConcurrency(partitionShare(cap, n, p)))));
    }
    if (change.rateLimitMax !== undefined || change.rateLimitDurationMs !== undefined) {
      await Promise.all(queues.map((q, p) => (max === 0 ? q.removeGlobalRateLimit() : q.setGlobalRateLimit(partitionShare(max, n, p), duration))));
    }
    if (change.poolConcurrency !== undefined) {
      written?.note(this.writes.redis, this.opts.keys.limits);
      await this.setPoolConcurrency(taskClass, change.poolConcurrency);
    }
    return this.get(taskClass);
  }

  /** Pause and resume are BullMQ's: its meta hash and lists, one slot of each partition's queue. */
  async pause(taskClass: string, written?: WrittenKeys): Promise<ClassLimitsView> {
    const queues = this.writes.queues.partitionsOf(taskClass);
    for (const q of queues) written?.note(this.writes.queues.connection, q.keys.meta!);
    await Promise.all(queues.map((q) => q.pause()));
    return this.get(taskClass);
  }

  async resume(taskClass: string, written?: WrittenKeys): Promise<ClassLimitsView> {
    const queues = this.writes.queues.partitionsOf(taskClass);
    for (const q of queues) written?.note(this.writes.queues.connection, q.keys.meta!);
    await Promise.all(queues.map((q) => q.resume()));
    return this.get(taskClass);
  }
}
