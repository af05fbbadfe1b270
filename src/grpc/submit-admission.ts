/**
 * Admission of submissions (SubmitTask, SubmitTasks, StartWorkflowRun, CreateSchedule), before
 * their handler runs: refused with RESOURCE_EXHAUSTED and a `retry-after-ms` trailer while Redis
 * memory is above the high-water mark (redis-memory-watch.ts), or when the caller is over its
 * submit rate (submit-rate-limit.ts). Only these client calls are held back: what the pools
 * write (results, events, retries), a workflow run releasing its next steps and a schedule's
 * ticks go on, so accepted work drains.
 *
 * The memory check comes first: a call refused for memory takes nothing from its caller's bucket.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { OrchestratorError } from '../errors/errors.js';
import { MEMORY_RETRY_AFTER_MS, type MemoryView } from '../redis/redis-memory-watch.js';
import { callerOf, type AdmittedCall } from './stream-admission.js';
import type { SubmitRateLimiter } from './submit-rate-limit.js';

export interface SubmitAdmissionOptions {
  /** The last read of Redis memory; absent: no memory admission. */
  memory?: () => Readonly<MemoryView>;
  rate: SubmitRateLimiter;
  /** Whether the server has tokens (see callerOf). */
  callerFromToken: boolean;
}

const mib = (n: number) => `${(n / (1 << 20)).toFixed(1)} MiB`;

export class SubmitAdmission {
  private refused?: Counter<'reason'>;

  constructor(private readonly opts: SubmitAdmissionOptions) {}

  /** orq_submissions_refused_total{reason} and orq_submit_rate_buckets. */
  register(registry: Registry): void {
    this.refused = new Counter({
      name: 'orq_submissions_refused_total',
      help: 'Submission calls this front end refused before running them, by reason (memory: Redis above the high-water mark; rate: the caller over its submit rate).',
      labelNames: ['reason'],
      registers: [registry],
    });
    for (const reason of ['memory', 'rate']) this.refused.inc({ reason }, 0);
    const rate = this.opts.rate;
    new Gauge({
      name: 'orq_submit_rate_buckets',
      help: 'Callers with a submit rate bucket held now (idle ones are dropped).',
      registers: [registry],
      collect() {
        this.set(rate.size);
      },
    });
  }

  /** Lets a submission of `tasks` tasks through, or throws resource_exhausted with a retry hint. */
  admit(call: AdmittedCall, tasks: number): void {
    const memory = this.opts.memory?.();
    if (memory?.state === 'over') {
      this.refused?.inc({ reason: 'memory' });
      throw new OrchestratorError(
        'resource_exhausted',
        `Redis memory ${mib(memory.usedBytes)} is above the high-water mark ${mib(memory.markBytes)} (redis.memoryHighWaterMark): ` +
          `submissions are held back while accepted work drains; retry in about ${MEMORY_RETRY_AFTER_MS} ms`,
        { retryable: true, retryAfterMs: MEMORY_RETRY_AFTER_MS },
      );
    }
    const caller = callerOf(call, this.opts.callerFromToken);
    const taken = this.opts.rate.take(caller, tasks);
    if (taken.ok) return;
    this.refused?.inc({ reason: 'rate' });
    const { perSecond, burst } = this.opts.rate.limitOf(caller);
    if (taken.tooLarge)
      throw new OrchestratorError(
        'resource_exhausted',
        `${tasks} tasks in one call is more than this caller's submit burst of ${burst} (grpc.submitRateLimit): split the batch`,
      );
    throw new OrchestratorError(
      'resource_exhausted',
      `this caller is over its submit rate of ${perSecond} tasks per second, burst ${burst} (grpc.submitRateLimit); retry in about ${taken.retryAfterMs} ms`,
      { retryable: true, retryAfterMs: taken.retryAfterMs },
    );
  }
}
