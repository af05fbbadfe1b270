/**
 * The env-manager's figures for /metrics, per managed service: whether it is up (healthy), how
 * often the watcher restarted it, and every health check's latency and outcome. Up and restarts
 * are read from the EnvManager at scrape time; the checks are observed as they happen, so the
 * histogram has each one rather than an average.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { EnvManager } from '../env-manager/env-manager.js';
import { seconds } from './metrics-registry.js';

export interface EnvMetricsOptions {
  registry: Registry;
  manager: EnvManager;
}

/** Health checks take from under a millisecond (none, tcp) to their timeout (seconds). */
const CHECK_SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class EnvMetrics {
  private readonly unsubscribe: () => void;

  constructor({ registry, manager }: EnvMetricsOptions) {
    const registers = [registry];
    new Gauge({
      name: 'orq_env_service_up',
      help: 'Whether each managed service is healthy (1) or not: starting, unhealthy, exited or absent (0).',
      labelNames: ['service'],
      registers,
      collect() {
        for (const f of manager.figures()) this.set({ service: f.name }, f.healthy ? 1 : 0);
      },
    });
    new Counter({
      name: 'orq_env_service_restarts_total',
      help: 'Restarts of each managed service by the watcher (after it exited or stayed unhealthy).',
      labelNames: ['service'],
      registers,
      collect() {
        this.reset();
        for (const f of manager.figures()) this.inc({ service: f.name }, f.restarts);
      },
    });
    const latency = new Histogram({
      name: 'orq_env_health_check_duration_seconds',
      help: 'Time each health check of a managed service took, passed or failed.',
      labelNames: ['service'],
      buckets: CHECK_SECONDS_BUCKETS,
      registers,
    });
    const failures = new Counter({
      name: 'orq_env_health_check_failures_total',
      help: 'Health checks of each managed service that failed.',
      labelNames: ['service'],
      registers,
    });
    // Every service shows from the first scrape, at zero, so rate() and alerts see it start.
    for (const s of manager.services) {
      latency.zero({ service: s.name });
      failures.inc({ service: s.name }, 0);
    }
    this.unsubscribe = manager.onHealthCheck((service, r) => {
      latency.observe({ service }, seconds(r.latencyMs));
      if (!r.ok) failures.inc({ service });
    });
  }

  /** Stops observing checks. */
  close(): void {
    this.unsubscribe();
  }
}
