/**
 * Token buckets of submitted tasks, one per caller (grpc.submitRateLimit): a bucket holds up to
 * `burst` tasks and refills at `perSecond`; a submission of n tasks takes n, or is refused with
 * the time until n are there. In process, per front end: behind N front ends a caller gets N
 * times the rate (the limit is against one caller crowding out the others on a front end, not a
 * cluster-wide quota; Redis memory is guarded by the high-water mark).
 *
 * The map is bounded: a bucket that has refilled to its burst is the same as no bucket, so
 * those are dropped at a sweep (at most every SWEEP_EVERY_MS, during a take); past maxBuckets
 * the least recently used go too (their callers start again from a full bucket).
 */

export interface RateLimit {
  /** Tasks per second; 0: no limit. */
  perSecond: number;
  /** Most tasks the bucket holds. */
  burst: number;
}

export type TakeOutcome =
  | { ok: true }
  /** Refused: `retryAfterMs` until the bucket holds enough. */
  | { ok: false; retryAfterMs: number; tooLarge: false }
  /** Refused for good: more tasks than the bucket ever holds. */
  | { ok: false; tooLarge: true };

interface Bucket {
  tokens: number;
  atMs: number;
  limit: RateLimit;
}

/** How often idle buckets are looked for. */
const SWEEP_EVERY_MS = 10_000;

export interface SubmitRateLimiterOptions {
  /** Every caller's limit unless `overrides` names it. */
  limit: RateLimit;
  /** Caller -> its own limit (a token's submitRateLimit). */
  overrides?: ReadonlyMap<string, RateLimit>;
  /** Most buckets kept. @default 100000 */
  maxBuckets?: number;
  /** The clock (tests). @default Date.now */
  now?: () => number;
}

export class SubmitRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweepMs = 0;
  private readonly now: () => number;

  constructor(private readonly opts: SubmitRateLimiterOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Buckets held now. */
  get size(): number {
    return this.buckets.size;
  }

  limitOf(caller: string): RateLimit {
    return this.opts.overrides?.get(caller) ?? this.opts.limit;
  }

  /** Takes `n` tasks from the caller's bucket, or says why not. */
  take(caller: string, n: number): TakeOutcome {
    const limit = this.limitOf(caller);
    if (limit.perSecond <= 0 || n <= 0) return { ok: true };
    if (n > limit.burst) return { ok: false, tooLarge: true };
    const now = this.now();
    this.sweep(now);
    const b = this.buckets.get(caller);
    const tokens = b ? Math.min(limit.burst, b.tokens + ((now - b.atMs) * limit.perSecond) / 1000) : limit.burst;
    if (tokens < n) {
      if (b) {
        b.tokens = tokens;
        b.atMs = now;
      }
      return { ok: false, tooLarge: false, retryAfterMs: Math.ceil(((n - tokens) * 1000) / limit.perSecond) };
    }
    // Delete and set: the map's order is least recently used first.
    this.buckets.delete(caller);
    this.buckets.set(caller, { tokens: tokens - n, atMs: now, limit });
    const max = this.opts.maxBuckets ?? 100_000;
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= max) break;
      this.buckets.delete(key);
    }
    return { ok: true };
  }

  /** Drops the buckets that have refilled (a full bucket is no bucket). */
  private sweep(now: number): void {
    if (now - this.lastSweepMs < SWEEP_EVERY_MS) return;
    this.lastSweepMs = now;
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.atMs) * b.limit.perSecond) / 1000 >= b.limit.burst) this.buckets.delete(key);
    }
  }
}
