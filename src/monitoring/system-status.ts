/**
 * Health and the metrics snapshot behind the Health and GetMetrics calls. Everything is read
 * from Redis at call time in a few pipelined round trips.
 */
import { parsePoolFacts, type PoolRunner } from '../pools/pool-facts.js';
import type { RedisClient } from '../redis/redis-client.js';
import type { Keys } from '../store/keys.js';
import type { TaskQueues } from '../tasks/task-queues.js';

export type Serving = 'serving' | 'degraded' | 'not_serving';

export interface ComponentStatus {
  name: string;
  status: Serving;
  detail: string;
}

export interface HealthView {
  status: Serving;
  version: string;
  uptimeMs: number;
  components: ComponentStatus[];
}

export interface PoolView {
  id: string;
  lastSeenMs: number;
  /** Concurrency per class. */
  classes: Record<string, number>;
  busy: number;
  /** Drained or draining (DrainPool): takes no new tasks. */
  draining: boolean;
  /** The task runners the pool calls, as it sees them. */
  runners: PoolRunner[];
}

export interface SystemStatusOptions {
  redis: RedisClient;
  keys: Keys;
  queues: TaskQueues;
  version: string;
  startedAtMs: number;
  /** A pool not heard from for this long is gone. */
  poolTimeoutMs: number;
}

const COUNT_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed'] as const;

/** A class queue's jobs by state ("waiting" includes prioritized jobs). */
export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

/** The fields of the `{prefix}:counters` hash, each "<kind>:<class>". */
export type CounterKind = 'submitted' | 'succeeded' | 'failed' | 'cancelled' | 'retried' | 'timed_out';
export const COUNTER_KINDS: readonly CounterKind[] = ['submitted', 'succeeded', 'failed', 'cancelled', 'retried', 'timed_out'];

export interface ClusterSnapshot {
  queues: ReadonlyMap<string, QueueCounts>;
  pools: PoolView[];
  /** A cluster-wide count from the counters hash. */
  count(kind: CounterKind, taskClass: string): number;
  streams: { events: number; results: number; workflowInbox: number; workflowInboxDead: number };
  activeRuns: number;
  /** Schedules stored (paused ones included). */
  schedules: number;
  uptimeMs: number;
}

export class SystemStatus {
  /** Components a process adds from its own state (the orchestrator's submission admission). */
  private readonly extra: (() => ComponentStatus)[] = [];

  constructor(private readonly opts: SystemStatusOptions) {}

  /** Adds a component to every Health answer while Redis is reachable. */
  addComponent(component: () => ComponentStatus): void {
    this.extra.push(component);
  }

  /** Pools heard from recently. */
  async pools(): Promise<PoolView[]> {
    const { redis, keys } = this.opts;
    const since = Date.now() - this.opts.poolTimeoutMs;
    const ids = await redis.zrangebyscore(keys.pools, since, '+inf', 'WITHSCORES');
    const pipe = redis.pipeline();
    const pools: PoolView[] = [];
    for (let i = 0; i < ids.length; i += 2) {
      pools.push({ id: ids[i]!, lastSeenMs: Number(ids[i + 1]), classes: {}, busy: 0, draining: false, runners: [] });
      pipe.hmget(keys.pool(ids[i]!), 'classes', 'busy', 'draining', 'runners');
    }
    const facts = (await pipe.exec()) ?? [];
    pools.forEach((p, i) => {
      const [classes, busy, draining, runners] = (facts[i]?.[1] as (string | null)[]) ?? [];
      // Redis contents are not trusted: a malformed entry counts as serving nothing.
      const parsed = parsePoolFacts({ classes: classes ?? '', at: '0', runners: runners ?? '' });
      p.classes = parsed?.classes ?? {};
      p.runners = parsed?.runners ?? [];
      p.busy = Number(busy ?? 0) || 0;
      p.draining = !!draining;
    });
    return pools;
  }

  /**
   * DEGRADED only when something is wrong: a component down, or work in a class no pool serves
   * (tasks queued, scheduled or running there, and no pool heard from recently takes the
   * class). A configured class nobody uses with no pool (the gpu classes of a CPU-only start) is
   * fine, as is a paused class (an operator's decision) or no pools at all with no work. Redis
   * unreachable is NOT_SERVING.
   */
  async health(): Promise<HealthView> {
    const base = { version: this.opts.version, uptimeMs: Date.now() - this.opts.startedAtMs };
    try {
      await this.opts.redis.ping();
    } catch (err) {
      return { ...base, status: 'not_serving', components: [{ name: 'redis', status: 'not_serving', detail: (err as Error).message }] };
    }
    const components: ComponentStatus[] = [{ name: 'redis', status: 'serving', detail: 'reachable' }];
    const classes = [...this.opts.queues.all()];
    const [pools, facts] = await Promise.all([
      this.pools(),
      Promise.all(
        classes.map(([name]) =>
          Promise.all([this.opts.queues.isPaused(name), this.opts.queues.jobCounts(name, 'waiting', 'prioritized', 'delayed', 'active', 'waiting-children')]),
        ),
      ),
    ]);
    classes.forEach(([name], i) => {
      const [paused, counts] = facts[i]!;
      const unfinished = Object.values(counts).reduce((n, c) => n + (c ?? 0), 0);
      // A draining pool takes no new tasks: it serves the class no more.
      const serving = pools.filter((p) => name in p.classes && !p.draining).length;
      const stranded = serving === 0 && unfinished > 0;
      components.push({
        name: `queue:${name}`,
        status: stranded ? 'degraded' : 'serving',
        detail: `${paused ? 'paused; ' : ''}${serving} pool(s) serving; ${unfinished} task(s) waiting or running${stranded ? ': no pool serves this class' : ''}`,
      });
    });
    components.push(...runnerComponents(pools));
    const draining = pools.filter((p) => p.draining).length;
    components.push({ name: 'pools', status: 'serving', detail: `${pools.length} pool(s) seen recently${draining ? `, ${draining} draining` : ''}` });
    for (const component of this.extra) components.push(component());
    return { ...base, status: components.some((c) => c.status !== 'serving') ? 'degraded' : 'serving', components };
  }

  /**
   * Everything the metrics views show, read in one go: one getJobCounts per class, the pools'
   * heartbeats, and one pipeline for the counters hash, stream lengths and active runs.
   */
  async snapshot(): Promise<ClusterSnapshot> {
    const { redis, keys } = this.opts;
    const classes = [...this.opts.queues.all()];
    // On a cluster each class's (partition's) feeds are streams of their own, maybe on other
    // shards: one XLEN each, outside the pipeline (whose keys share one slot), added to the totals.
    const perClass = keys.feedsPerClass ? classes.map(([name]) => name) : [];
    const [classEventKeys, classResultKeys] = [keys.eventStreams(perClass).slice(1), keys.resultStreams(perClass)].map((ss) => ss.map((s) => s.key));
    // On a cluster each class also counts in a hash of its own (keys.ts countersOf): one HGETALL
    // each, outside the pipeline too, their fields added up with the shared hash's.
    const counterHashes = keys.counterKeys(perClass).slice(1);
    // Likewise each class's workflow inbox and its dead letters (keys.ts workflowInboxes).
    const classInboxes = keys.workflowInboxes(perClass).slice(1);
    const [counts, pools, replies, classEvents, classResults, classCounters, inboxLengths] = await Promise.all([
      Promise.all(classes.map(([name]) => this.opts.queues.jobCounts(name, ...COUNT_STATES))),
      this.pools(),
      redis
        .pipeline()
        .hgetall(keys.counters)
        .xlen(keys.events)
        .xlen(keys.results)
        .xlen(keys.workflowInbox)
        .xlen(keys.workflowInboxDead)
        .zcard(keys.activeRuns)
        .hlen(keys.schedules)
        .exec(),
      Promise.all(classEventKeys!.map((k) => redis.xlen(k))),
      Promise.all(classResultKeys!.map((k) => redis.xlen(k))),
      Promise.all(counterHashes.map((k) => redis.hgetall(k))),
      Promise.all(classInboxes.map(async (i) => [await redis.xlen(i.key), await redis.xlen(i.dead)] as const)),
    ]);
    for (const [err] of replies ?? []) if (err) throw err;
    const [counters, events, results, workflowInbox, workflowInboxDead, activeRuns, schedules] = (replies ?? []).map(([, v]) => v) as [
      Record<string, string>,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const queues = new Map<string, QueueCounts>();
    classes.forEach(([name], i) => {
      const c = counts[i]!;
      queues.set(name, {
        waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
        active: c.active ?? 0,
        delayed: c.delayed ?? 0,
        completed: c.completed ?? 0,
        failed: c.failed ?? 0,
      });
    });
    const summed = new Map<string, number>();
    for (const hash of [counters, ...classCounters]) for (const [field, v] of Object.entries(hash)) summed.set(field, (summed.get(field) ?? 0) + Number(v));
    const count = (kind: CounterKind, taskClass: string) => summed.get(`${kind}:${taskClass}`) ?? 0;
    return {
      queues,
      pools,
      count,
      streams: {
        events: classEvents.reduce((a, b) => a + b, events),
        results: classResults.reduce((a, b) => a + b, results),
        workflowInbox: inboxLengths.reduce((a, [n]) => a + n, workflowInbox),
        workflowInboxDead: inboxLengths.reduce((a, [, n]) => a + n, workflowInboxDead),
      },
      activeRuns,
      schedules,
      uptimeMs: Date.now() - this.opts.startedAtMs,
    };
  }

  /** Named figures: per-class queue counts, pools, counters, stream lengths, uptime. */
  async metrics(): Promise<Record<string, number>> {
    const snap = await this.snapshot();
    const out: Record<string, number> = {};
    for (const [name, c] of snap.queues) {
      out[`queue_waiting{class="${name}"}`] = c.waiting;
      out[`queue_active{class="${name}"}`] = c.active;
      out[`queue_delayed{class="${name}"}`] = c.delayed;
      out[`queue_completed{class="${name}"}`] = c.completed;
      out[`queue_failed{class="${name}"}`] = c.failed;
    }
    const { pools } = snap;
    out.pools = pools.length;
    out.pool_busy_slots = pools.reduce((n, p) => n + p.busy, 0);
    for (const name of snap.queues.keys()) {
      out[`pool_concurrency{class="${name}"}`] = pools.reduce((n, p) => n + (p.classes[name] ?? 0), 0);
      out[`pools_serving{class="${name}"}`] = pools.filter((p) => name in p.classes).length;
    }
    let submitted = 0;
    let finished = 0;
    for (const name of snap.queues.keys()) {
      const s = snap.count('submitted', name);
      const ok = snap.count('succeeded', name);
      const bad = snap.count('failed', name);
      const cancelled = snap.count('cancelled', name);
      out[`tasks_submitted_total{class="${name}"}`] = s;
      out[`tasks_succeeded_total{class="${name}"}`] = ok;
      out[`tasks_failed_total{class="${name}"}`] = bad;
      out[`tasks_cancelled_total{class="${name}"}`] = cancelled;
      submitted += s;
      finished += ok + bad + cancelled;
    }
    out.tasks_submitted_total = submitted;
    out.tasks_finished_total = finished;
    out.events_stream_length = snap.streams.events;
    out.results_stream_length = snap.streams.results;
    out.workflow_inbox_dead_letters = snap.streams.workflowInboxDead;
    out.workflow_runs_active = snap.activeRuns;
    out.schedules = snap.schedules;
    out.uptime_seconds = snap.uptimeMs / 1000;
    return out;
  }
}

/**
 * One component per task runner the live pools call (`runner:<name>`): serving while some pool
 * reaches it, degraded when every pool that calls it finds it down (its tasks fail, retryably).
 */
function runnerComponents(pools: readonly PoolView[]): ComponentStatus[] {
  const byName = new Map<string, PoolRunner[]>();
  for (const p of pools) {
    if (p.draining) continue;
    for (const r of p.runners) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
  }
  return [...byName]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, seen]) => {
      const up = seen.filter((r) => r.state === 'up');
      const inFlight = seen.reduce((n, r) => n + r.inFlight, 0);
      const capacity = up.reduce((n, r) => n + r.capacity, 0);
      const down = seen.filter((r) => r.state === 'down');
      const serves = [...new Set(up.flatMap((r) => r.tasks))].slice(0, 20);
      const detail =
        `${seen[0]!.address}: up on ${up.length} of ${seen.length} pool(s); ${inFlight} call(s) in flight of ${capacity}` +
        (serves.length ? `; serves ${serves.join(', ')}` : '') +
        (down.length ? `; down: ${down[0]!.detail}` : '');
      return { name: `runner:${name}`, status: up.length === 0 && down.length > 0 ? 'degraded' : 'serving', detail } satisfies ComponentStatus;
    });
}
