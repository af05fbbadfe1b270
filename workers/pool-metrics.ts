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

/** The series of one class an attempt updates, labelled once: labelling hashes the labels on every call. */
interface ClassSeries {
  wait: Histogram.Internal<'class'>;
  ended: Map<AttemptOutcome, { attempts: Counter.Internal; run: Histogram.Internal<'class' | 'outcome'> }>;
}

export class PoolMetrics implements AttemptObserver {
  private readonly attempts: Counter<'class' | 'outcome'>;
  private readonly timedOut: Counter<'class'>;
  private readonly runSeconds: Histogram<'class' | 'outcome'>;
  private readonly waitSeconds: Histogram<'class'>;
  /** Tasks running per class, read by the busy-slots gauge when scraped. */
  private readonly running = new Map<string, number>();
  /** Per class, the series its attempts update. */
  private readonly series = new Map<string, ClassSeries>();
  private readonly drainingGauge: Gauge;

  constructor(opts: PoolMetricsOptions) {
    const registers = [opts.registry];
    this.attempts = new Counter({
      name: 'orq_pool_attempts_total',
      help: 'Attempts this pool ran to an end, by class and outcome (succeeded, failed, cancelled, retried, handed_back, lock_lost).',
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
    const running = this.running;
    new Gauge({
      name: 'orq_pool_busy_slots',
      help: 'Tasks this pool is running per class.',
      labelNames: ['class'],
      registers,
      collect() {
        for (const [cls, n] of running) this.set({ class: cls }, n);
      },
    });
    this.drainingGauge = new Gauge({
      name: 'orq_pool_draining',
      help: '1 while this pool drains (DrainPool): it takes no new tasks and lets its running ones finish.',
      registers,
    });
    this.drainingGauge.set(0);
    for (const [cls, n] of opts.concurrency) {
      concurrency.set({ class: cls }, n);
      this.running.set(cls, 0);
      // Series exist from the start, so rate() and absent() behave before the first task.
      for (const outcome of ['succeeded', 'failed', 'cancelled', 'retried'] as const) this.attempts.inc({ class: cls, outcome }, 0);
      this.timedOut.inc({ class: cls }, 0);
    }
  }

  /** Tasks running per class now (the pool's heartbeat publishes them). */
  runningByClass(): Record<string, number> {
    return Object.fromEntries(this.running);
  }

  setDraining(draining: boolean): void {
    this.drainingGauge.set(draining ? 1 : 0);
  }

  started(taskClass: string, queueWaitMs: number | undefined): void {
    this.running.set(taskClass, (this.running.get(taskClass) ?? 0) + 1);
    if (queueWaitMs !== undefined) this.of(taskClass).wait.observe(seconds(queueWaitMs));
  }

  ended(taskClass: string, outcome: AttemptOutcome, runMs: number, timedOut: boolean): void {
    this.running.set(taskClass, (this.running.get(taskClass) ?? 1) - 1);
    const byOutcome = this.of(taskClass).ended;
    let s = byOutcome.get(outcome);
    if (!s) {
      s = { attempts: this.attempts.labels({ class: taskClass, outcome }), run: this.runSeconds.labels({ class: taskClass, outcome }) };
      byOutcome.set(outcome, s);
    }
    s.attempts.inc();
    s.run.observe(seconds(runMs));
    if (timedOut) this.timedOut.inc({ class: taskClass });
  }

  private of(taskClass: string): ClassSeries {
    let s = this.series.get(taskClass);
    if (!s) {
      s = { wait: this.waitSeconds.labels({ class: taskClass }), ended: new Map() };
      this.series.set(taskClass, s);
    }
    return s;
  }
}
