/**
 * Watches Redis's memory for the submission high-water mark (redis.memoryHighWaterMark): one
 * timer per orchestrator reads `INFO memory` (used_memory, maxmemory) every intervalMs, on the
 * shared command connection, so the check a submission makes is a field read, never a round trip.
 *
 * Why a mark below maxmemory: with `noeviction` a Redis at its maxmemory refuses every write,
 * the pools' too (a finished task cannot store its result, a running one cannot renew its
 * lock), so a flood of submissions would stop everything. Refusing new submissions earlier
 * keeps the room between the mark and maxmemory for the work already accepted to drain.
 *
 * The mark is `highWaterBytes` when set, else `highWaterFraction` of maxmemory, read at every
 * poll (a CONFIG SET maxmemory is followed); with neither (no maxmemory, no bytes) it is off.
 * Over the mark at a read, submissions are refused until a read finds used memory below 95 % of
 * it (hysteresis: a Redis hovering at the mark does not flap at every poll).
 *
 * When INFO cannot be read (Redis down, or INFO renamed away), the state is `unknown` and
 * submissions are let through: they reach Redis, which answers for itself (UNAVAILABLE when it
 * is down, RESOURCE_EXHAUSTED on OOM at its maxmemory).
 */
import { isCluster, type RedisClient } from './redis-client.js';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../logging/logger.js';

/** What a caller refused for memory is told to wait: about what retention and the pools need to make room. */
export const MEMORY_RETRY_AFTER_MS = 5_000;

/** Below this fraction of the mark, submissions are accepted again. */
export const MEMORY_RESUME_FRACTION = 0.95;

export type MemoryState = 'off' | 'under' | 'over' | 'unknown';

export interface MemoryView {
  state: MemoryState;
  /** used_memory at the last read (0 before one). */
  usedBytes: number;
  /** maxmemory at the last read; 0: none. */
  maxBytes: number;
  /** The high-water mark; 0: off. */
  markBytes: number;
  /** When the last read succeeded (epoch ms; 0: never). */
  checkedAtMs: number;
}

export interface RedisMemoryWatchOptions {
  redis: RedisClient;
  /** redis.memoryCheckIntervalMs */
  intervalMs: number;
  /** redis.memoryHighWaterMark: a fraction of maxmemory; 0: none. */
  highWaterFraction: number;
  /** redis.memoryHighWaterMarkBytes: wins over the fraction when above 0. */
  highWaterBytes: number;
  logger: Logger;
}

const field = (info: string, name: string): number | undefined => {
  const m = new RegExp(`^${name}:(\\d+)`, 'm').exec(info);
  return m ? Number(m[1]) : undefined;
};

const mib = (n: number) => `${(n / (1 << 20)).toFixed(1)} MiB`;

export class RedisMemoryWatch {
  private view: MemoryView = { state: 'unknown', usedBytes: 0, maxBytes: 0, markBytes: 0, checkedAtMs: 0 };
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private closed = false;
  /** What the last log line said about the mark, so it is logged when it changes only. */
  private describedMark?: string;
  private readonly log: Logger;

  constructor(private readonly opts: RedisMemoryWatchOptions) {
    this.log = opts.logger.child({ component: 'redis-memory' });
  }

  /** The state at the last read. */
  get current(): Readonly<MemoryView> {
    return this.view;
  }

  /** Reads once (so the state is known when serving starts, if Redis answers), then every intervalMs. */
  async start(): Promise<void> {
    await this.check();
    const tick = () => {
      if (this.closed) return;
      this.running = this.check().finally(() => {
        if (!this.closed) this.timer = setTimeout(tick, this.opts.intervalMs);
      });
    };
    this.timer = setTimeout(tick, this.opts.intervalMs);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /**
   * One read of INFO memory; never throws. On a Redis Cluster every master is read and the one
   * nearest its mark decides: a class whose shard is full must be refused even while others have
   * room (the figures reported are that master's).
   */
  async check(): Promise<void> {
    let infos: string[];
    try {
      const r = this.opts.redis;
      infos = isCluster(r) ? await Promise.all(r.nodes('master').map((n) => n.info('memory'))) : [await r.info('memory')];
      if (infos.length === 0) throw new Error('the cluster has no master known yet');
    } catch (err) {
      if (this.view.state !== 'unknown') this.log.warn({ err: (err as Error).message }, 'cannot read Redis memory: submissions are not held back until it can');
      this.view = { ...this.view, state: 'unknown' };
      return;
    }
    const { highWaterBytes, highWaterFraction } = this.opts;
    const nodes = infos.map((info) => {
      const usedBytes = field(info, 'used_memory') ?? 0;
      const maxBytes = field(info, 'maxmemory') ?? 0;
      const markBytes = highWaterBytes > 0 ? highWaterBytes : maxBytes > 0 ? Math.floor(maxBytes * highWaterFraction) : 0;
      return { usedBytes, maxBytes, markBytes, load: markBytes > 0 ? usedBytes / markBytes : -1 };
    });
    const { usedBytes, maxBytes, markBytes } = nodes.reduce((a, b) => (b.load > a.load ? b : a));
    this.describeMark(markBytes, maxBytes);
    const was = this.view.state;
    let state: MemoryState;
    if (markBytes === 0) state = 'off';
    else if (usedBytes >= markBytes) state = 'over';
    else if (was === 'over' && usedBytes >= markBytes * MEMORY_RESUME_FRACTION) state = 'over';
    else state = 'under';
    this.view = { state, usedBytes, maxBytes, markBytes, checkedAtMs: Date.now() };
    if (state === 'over' && was !== 'over')
      this.log.warn({ usedBytes, markBytes, maxBytes }, `Redis memory ${mib(usedBytes)} is above the high-water mark ${mib(markBytes)}: refusing submissions`);
    if (was === 'over' && state === 'under')
      this.log.info({ usedBytes, markBytes }, `Redis memory ${mib(usedBytes)} is below the high-water mark again: accepting submissions`);
  }

  /** Logs how the mark is set at the first read and whenever it changes (a CONFIG SET maxmemory). */
  private describeMark(markBytes: number, maxBytes: number): void {
    const { highWaterBytes, highWaterFraction } = this.opts;
    let text: string;
    if (markBytes === 0) {
      text =
        highWaterFraction > 0
          ? 'no submission high-water mark: Redis has no maxmemory and redis.memoryHighWaterMarkBytes is 0'
          : 'no submission high-water mark: redis.memoryHighWaterMark and redis.memoryHighWaterMarkBytes are 0';
    } else if (highWaterBytes > 0) {
      text = `submission high-water mark ${mib(markBytes)} (redis.memoryHighWaterMarkBytes)`;
      if (maxBytes > 0 && markBytes >= maxBytes) text += `, at or above Redis's maxmemory ${mib(maxBytes)}: Redis refuses writes before it is reached`;
    } else {
      text = `submission high-water mark ${mib(markBytes)} (${highWaterFraction} of Redis's maxmemory ${mib(maxBytes)})`;
    }
    if (text === this.describedMark) return;
    this.describedMark = text;
    if (markBytes > 0 && maxBytes > 0 && markBytes >= maxBytes) this.log.warn({ markBytes, maxBytes }, text);
    else this.log.info({ markBytes, maxBytes }, text);
  }

  /** orq_redis_memory_used_bytes, _max_bytes, _high_water_mark_bytes, and orq_submissions_held (1 while refusing). */
  register(registry: Registry): void {
    const view = () => this.view;
    const gauge = (name: string, help: string, value: (v: MemoryView) => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(value(view()));
        },
      });
    gauge('orq_redis_memory_used_bytes', "Redis's used_memory at the front end's last read.", (v) => v.usedBytes);
    gauge('orq_redis_memory_max_bytes', "Redis's maxmemory (0: none).", (v) => v.maxBytes);
    gauge('orq_redis_memory_high_water_mark_bytes', 'Submissions are refused above this Redis memory (0: no mark).', (v) => v.markBytes);
    gauge('orq_submissions_held', '1 while this front end refuses submissions because Redis memory is above the high-water mark.', (v) =>
      v.state === 'over' ? 1 : 0,
    );
  }
}
