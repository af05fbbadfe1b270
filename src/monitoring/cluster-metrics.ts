/**
 * The cluster's figures, as the orchestrator's /metrics shows them: read from Redis when
 * Prometheus scrapes (one getJobCounts per class, the pools' heartbeats and one pipeline, via
 * SystemStatus.snapshot), never kept up to date in between. The task counters are the
 * cluster-wide totals of the `{prefix}:counters` hash, so every orchestrator shows the same
 * values: sum them with max() across orchestrators, not sum().
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { COUNTER_KINDS, type ClusterSnapshot, type SystemStatus } from './system-status.js';

export interface ClusterMetricsOptions {
  registry: Registry;
  system: SystemStatus;
  /**
   * A scrape collects every metric at once: they share one snapshot when asked within this
   * time. @default 1000
   */
  snapshotReuseMs?: number;
}

export class ClusterMetrics {
  private last?: { atMs: number; snapshot: Promise<ClusterSnapshot> };

  constructor(private readonly opts: ClusterMetricsOptions) {
    const registers = [opts.registry];
    const snap = () => this.snapshot();
    new Gauge({
      name: 'orq_queue_jobs',
      help: 'Jobs in each class queue by state (waiting includes prioritized).',
      labelNames: ['class', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const [cls, counts] of (await snap()).queues) {
          for (const [state, n] of Object.entries(counts)) this.set({ class: cls, state }, n);
        }
      },
    });
    for (const kind of COUNTER_KINDS) {
      new Counter({
        name: `orq_tasks_${kind}_total`,
        help: `Tasks ${kind.replace('_', ' ')} in the whole cluster by class${kind === 'retried' || kind === 'timed_out' ? ' (attempts)' : ''}, from the counters hash in Redis.`,
        labelNames: ['class'],
        registers,
        async collect() {
          const s = await snap();
          this.reset();
          for (const cls of s.queues.keys()) this.inc({ class: cls }, s.count(kind, cls));
        },
      });
    }
    new Gauge({
      name: 'orq_stream_length',
      help: 'Entries in each Redis stream (events, results, workflow_inbox, workflow_inbox_dead).',
      labelNames: ['stream'],
      registers,
      async collect() {
        const { streams } = await snap();
        this.set({ stream: 'events' }, streams.events);
        this.set({ stream: 'results' }, streams.results);
        this.set({ stream: 'workflow_inbox' }, streams.workflowInbox);
        this.set({ stream: 'workflow_inbox_dead' }, streams.workflowInboxDead);
      },
    });
    new Gauge({
      name: 'orq_pools',
      help: 'Worker pools heard from in the last three heartbeats.',
      registers,
      async collect() {
        this.set((await snap()).pools.length);
      },
    });
    new Gauge({
      name: 'orq_class_pools_serving',
      help: 'Worker pools serving each class (0: nothing runs its tasks).',
      labelNames: ['class'],
      registers,
      async collect() {
        const s = await snap();
        for (const cls of s.queues.keys()) this.set({ class: cls }, s.pools.filter((p) => cls in p.classes).length);
      },
    });
    new Gauge({
      name: 'orq_class_concurrency',
      help: 'Task slots for each class over all pools.',
      labelNames: ['class'],
      registers,
      async collect() {
        const s = await snap();
        for (const cls of s.queues.keys())
          this.set(
            { class: cls },
            s.pools.reduce((n, p) => n + (p.classes[cls] ?? 0), 0),
          );
      },
    });
    new Gauge({
      name: 'orq_busy_slots',
      help: 'Tasks running over all pools (from their heartbeats).',
      registers,
      async collect() {
        this.set((await snap()).pools.reduce((n, p) => n + p.busy, 0));
      },
    });
    new Gauge({
      name: 'orq_workflow_runs_active',
      help: 'Workflow runs not yet ended.',
      registers,
      async collect() {
        this.set((await snap()).activeRuns);
      },
    });
    new Gauge({
      name: 'orq_schedules',
      help: 'Schedules stored, paused ones included.',
      registers,
      async collect() {
        this.set((await snap()).schedules);
      },
    });
  }

  private snapshot(): Promise<ClusterSnapshot> {
    const now = Date.now();
    if (!this.last || now - this.last.atMs > (this.opts.snapshotReuseMs ?? 1_000)) {
      this.last = { atMs: now, snapshot: this.opts.system.snapshot() };
      // A failed read must not be reused by the next scrape.
      this.last.snapshot.catch(() => (this.last = undefined));
    }
    return this.last.snapshot;
  }
}
