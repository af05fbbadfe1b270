/**
 * A Prometheus registry with prom-client's default process metrics (CPU, memory, event-loop lag,
 * handles, GC). Each process part (orchestrator, pool) gets its own registry rather than the
 * global one, so `npm start`, which runs both in one process, serves each its own /metrics.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * Default gauges whose names end in _total, which `promtool check metrics` rejects (that suffix
 * is for counters). Each has a labelled twin without the suffix (nodejs_active_handles{type}),
 * whose sum() gives the same figure.
 */
const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
  return registry;
}

/** Seconds from milliseconds, for histograms (Prometheus' base unit). */
export const seconds = (ms: number): number => ms / 1000;

/** Buckets for task run and wait times: 5 ms to 1 hour. */
export const TASK_SECONDS_BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
