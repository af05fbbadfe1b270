/**
 * The pools as operators see them (ListPools, `orchctl pools`, /admin/pools) and the one thing
 * an operator asks of a single pool: to drain (DrainPool).
 *
 * Reading: the `pools` zset scores each pool by its last heartbeat; one heard from within three
 * heartbeats is live (running or draining), an older one is lost (killed or cut off). Pools that
 * left cleanly are in `pools:gone`, scored by when they left. Both are listed for
 * `goneListedMs`; the pools trim both zsets as they beat (workers/worker-pool.ts). The facts
 * come from each pool's hash, validated (pool-facts.ts): a malformed entry is skipped.
 *
 * Draining: the request is stored in the `pools:drain` hash (so a pool that missed the message,
 * or reconnects, still finds it at its next heartbeat) and published on its channel (so it
 * applies at once). The pool pauses its BullMQ Workers and lets its running tasks finish.
 */
import type { RedisClient } from '../redis/redis-client.js';
import type { Keys } from '../store/keys.js';
import { OrchestratorError, invalidArgument } from '../errors/errors.js';
import { cancelDrain } from '../store/pools/cancel-drain.js';
import type { WrittenKeys } from '../redis/replica-wait.js';
import { requestDrain } from '../store/pools/request-drain.js';
import { parsePoolFacts, POOL_FIELDS, type DrainMode, type PoolFacts } from './pool-facts.js';

export type PoolState = 'running' | 'draining' | 'stopped' | 'lost';

export interface PoolClassView {
  taskClass: string;
  concurrency: number;
  busy: number;
}

export interface PoolView {
  poolId: string;
  state: PoolState;
  host: string;
  pid: number;
  version: string;
  classes: PoolClassView[];
  busy: number;
  startedAtMs: number;
  lastHeartbeatMs: number;
  draining: boolean;
  exitWhenDrained: boolean;
  metricsAddr: string;
  stoppedAtMs: number;
}

export interface PoolRegistryOptions {
  redis: RedisClient;
  keys: Keys;
  /** pool.heartbeatMs: a pool silent for three of them is lost. */
  heartbeatMs: number;
  /** pool.goneListedMs: how long stopped and lost pools stay listed. */
  goneListedMs: number;
  /** The connection DrainPool and ResumePool write on (src/redis/write-connections.ts). @default redis */
  writes?: RedisClient;
}

/** Most pools one list returns (live and gone each). */
export const MAX_POOLS_LISTED = 1_000;
/** Pool ids as accepted by DrainPool and ResumePool: what config allows, bounded. */
const MAX_POOL_ID = 200;

export class PoolRegistry {
  private readonly requestDrain: ReturnType<typeof requestDrain>;
  private readonly cancelDrain: ReturnType<typeof cancelDrain>;

  constructor(private readonly opts: PoolRegistryOptions) {
    this.requestDrain = requestDrain(opts.writes ?? opts.redis, opts.keys);
    this.cancelDrain = cancelDrain(opts.writes ?? opts.redis, opts.keys);
  }

  private get liveAfterMs(): number {
    return this.opts.heartbeatMs * 3;
  }

  async list(now = Date.now()): Promise<PoolView[]> {
    const { redis, keys, goneListedMs } = this.opts;
    const since = now - goneListedMs;
    const [seen, left] = await Promise.all([
      redis.zrevrangebyscore(keys.pools, '+inf', since, 'WITHSCORES', 'LIMIT', 0, MAX_POOLS_LISTED),
      redis.zrevrangebyscore(keys.poolsGone, '+inf', since, 'WITHSCORES', 'LIMIT', 0, MAX_POOLS_LISTED),
    ]);
    const entries = new Map<string, { score: number; gone: boolean }>();
    for (let i = 0; i < seen.length; i += 2) entries.set(seen[i]!, { score: Number(seen[i + 1]), gone: false });
    // A pool id that left and came back (same id, restarted) is listed by its newest life.
    for (let i = 0; i < left.length; i += 2) if (!entries.has(left[i]!)) entries.set(left[i]!, { score: Number(left[i + 1]), gone: true });
    const ids = [...entries.keys()];
    if (ids.length === 0) return [];
    const pipe = redis.pipeline();
    // The known fields only: a hash grown huge by something else costs no more than a pool's.
    for (const id of ids) pipe.hmget(keys.pool(id), ...POOL_FIELDS);
    pipe.hmget(keys.poolDrain, ...ids);
    const replies = (await pipe.exec()) ?? [];
    const requested = (replies[ids.length]?.[1] ?? []) as (string | null)[];
    const out: PoolView[] = [];
    ids.forEach((id, i) => {
      const [err, h] = replies[i] ?? [];
      if (err) return;
      const values = h as (string | null)[];
      const facts = parsePoolFacts(Object.fromEntries(POOL_FIELDS.flatMap((f, j) => (values[j] == null ? [] : [[f, values[j]]]))));
      if (!facts) return;
      const e = entries.get(id)!;
      const want = requested[i];
      const mode: DrainMode | '' = facts.draining || (want === 'stay' || want === 'exit' ? want : '');
      out.push(view(id, facts, this.stateOf(e, mode, now), mode));
    });
    const rank: Record<PoolState, number> = { running: 0, draining: 0, lost: 1, stopped: 1 };
    return out.sort((a, b) => rank[a.state] - rank[b.state] || (rank[a.state] === 0 ? cmp(a.poolId, b.poolId) : b.lastHeartbeatMs - a.lastHeartbeatMs));
  }

  private stateOf(e: { score: number; gone: boolean }, mode: DrainMode | '', now: number): PoolState {
    if (e.gone) return 'stopped';
    if (e.score < now - this.liveAfterMs) return 'lost';
    return mode ? 'draining' : 'running';
  }

  /**
   * Asks a live pool to drain. `changed` is false when it was asked the same before. A drain
   * asked without exit of a pool asked to exit keeps the exit: a pool on its way out is not
   * held back.
   */
  async drain(poolId: string, exitWhenDrained: boolean, written?: WrittenKeys): Promise<{ changed: boolean }> {
    const current = await this.liveDrain(poolId);
    // Noted when nothing changes too: the repeat of a call answered UNAVAILABLE waits for its write.
    written?.note(this.opts.writes ?? this.opts.redis, this.opts.keys.poolDrain);
    const want: DrainMode = exitWhenDrained || current === 'exit' ? 'exit' : 'stay';
    if (current === want) return { changed: false };
    await this.requestDrain(poolId, want);
    return { changed: true };
  }

  /**
   * Undoes a drain: the pool resumes its Workers. A pool asked to exit is not called back
   * (failed_precondition): it may have begun to leave.
   */
  async resume(poolId: string, written?: WrittenKeys): Promise<{ changed: boolean }> {
    const current = await this.liveDrain(poolId);
    if (current === 'exit') {
      throw new OrchestratorError('failed_precondition', `pool_id: pool "${poolId.slice(0, 80)}" was drained to exit; start it again instead`, {
        field: 'pool_id',
      });
    }
    written?.note(this.opts.writes ?? this.opts.redis, this.opts.keys.poolDrain);
    if (current === null) return { changed: false };
    await this.cancelDrain(poolId);
    return { changed: true };
  }

  /** The drain requested of a live pool (null: none); NOT_FOUND unless the pool is live. */
  private async liveDrain(poolId: string): Promise<string | null> {
    checkId(poolId);
    const { redis, keys } = this.opts;
    const [score, current] = await Promise.all([redis.zscore(keys.pools, poolId), redis.hget(keys.poolDrain, poolId)]);
    if (score === null || Number(score) < Date.now() - this.liveAfterMs) {
      throw new OrchestratorError('not_found', `pool_id: no live pool "${poolId.slice(0, 80)}" (ListPools lists them)`, { field: 'pool_id' });
    }
    return current;
  }
}

/** The id of a pool that must be live, checked; NOT_FOUND otherwise. */
function checkId(poolId: string): void {
  if (!poolId) throw invalidArgument('pool_id', 'is required');
  if (poolId.length > MAX_POOL_ID) throw invalidArgument('pool_id', `is longer than ${MAX_POOL_ID} characters`);
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function view(poolId: string, f: PoolFacts, state: PoolState, mode: DrainMode | ''): PoolView {
  return {
    poolId,
    state,
    host: f.host,
    pid: f.pid,
    version: f.version,
    classes: Object.entries(f.classes).map(([taskClass, concurrency]) => ({ taskClass, concurrency, busy: f.busyByClass[taskClass] ?? 0 })),
    busy: state === 'stopped' ? 0 : f.busy,
    startedAtMs: f.startedAtMs,
    lastHeartbeatMs: f.lastHeartbeatMs,
    draining: mode !== '',
    exitWhenDrained: mode === 'exit',
    metricsAddr: f.metricsAddr,
    stoppedAtMs: state === 'stopped' ? f.stoppedAtMs : 0,
  };
}
