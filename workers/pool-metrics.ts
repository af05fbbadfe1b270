/**
 * What one pool did, for its own /metrics: attempts by class and outcome, run and queue-wait
 * time histograms, and its concurrency and busy slots per class. Counted in the process as
 * attempts end (the task processor tells it), so a scrape costs no Redis round trip.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { TASK_SECONDS_BUCKETS, seconds } from '../src/monitoring/metrics-registry.js';
import type { AttemptObserver, AttemptOutcome } from './task-processor.js';

export interface PoolMetricsOptions {
  registry: Registry;
  /** Concurrency per class this pool serves. */
  concurrency: ReadonlyMap<string, number>;
}

export class PoolMetrics implements AttemptObserver {
  private readonly attempts: Counter<'class' | 'outcome'>;
  private readonly timedOut: Counter<'class'>;
  private readonly runSeconds: Histogram<'class' | 'outcome'>;
  private readonly waitSeconds: Histogram<'class'>;
  private readonly busy: Gauge<'class'>;

  constructor(opts: PoolMetricsOptions) {
    const registers = [opts.registry];
    this.attempts = new Counter({
      name: 'orq_pool_attempts_total',
      help: 'Attempts this pool ran to an end, by class and outcome (succeeded, failed, cancelled, retried, handed_back).',
      labelNames: ['class', 'outcome'],
      registers,
    });
    this.timedOut = new Counter({
      name: 'orq_pool_attempts_timed_out_total',
      help: 'Attempts this pool stopped at their time limit, by class (they also count in orq_pool_attempts_total as retried or failed).',
      labelNames: ['class'],
      registers,
    });
    this.runSeconds = new Histogram({
      name: 'orq_pool_task_run_seconds',
      help: 'Run time of attempts on this pool, by class and outcome.',
      labelNames: ['class', 'outcome'],
      buckets: TASK_SECONDS_BUCKETS,
      registers,
    });
    this.waitSeconds = new Histogram({
      name: 'orq_pool_task_queue_wait_seconds',
      help: "Time from a task becoming runnable (submitted, or its delay over) to its first attempt's start on this pool, by class.",
      labelNames: ['class'],
      buckets: TASK_SECONDS_BUCKETS,
      registers,
    });
    const concurrency = new Gauge({ name: 'orq_pool_concurrency', help: 'Task slots of this pool per class.', labelNames: ['class'], registers });
    this.busy = new Gauge({ name: 'orq_pool_busy_slots', help: 'Tasks this pool is running per class.', labelNames: ['class'], registers });
    for (const [cls, n] of opts.concurrency) {
      concurrency.set({ class: cls }, n);
      this.busy.set({ class: cls }, 0);
      // Series exist from the start, so rate() and absent() behave before the first task.
      for (const outcome of ['succeeded', 'failed', 'cancelled', 'retried'] as const) this.attempts.inc({ class: cls, outcome }, 0);
      this.timedOut.inc({ class: cls }, 0);
    }
  }

  started(taskClass: string, queueWaitMs: number | undefined): void {
    this.busy.inc({ class: taskClass });
    if (queueWaitMs !== undefined) this.waitSeconds.observe({ class: taskClass }, seconds(queueWaitMs));
  }

  ended(taskClass: string, outcome: AttemptOutcome, runMs: number, timedOut: boolean): void {
    this.busy.dec({ class: taskClass });
    this.attempts.inc({ class: taskClass, outcome });
    this.runSeconds.observe({ class: taskClass, outcome }, seconds(runMs));
    if (timedOut) this.timedOut.inc({ class: taskClass });
  }
}
