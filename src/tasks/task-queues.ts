/**
 * One BullMQ Queue per task class, created once and shared by the submitter, status lookups
 * and metrics; and a view of the internal queue schedule ticks wait on, for the dashboard.
 */
import { Queue } from 'bullmq';
import type { RedisClient } from '../redis/redis-client.js';
import type { TaskClassOptions } from '../../queues/task-classes.js';
import { SCHEDULE_QUEUE, type Keys } from '../store/keys.js';
import { invalidArgument } from '../errors/errors.js';

export interface TaskQueuesOptions {
  redis: RedisClient;
  keys: Keys;
  classes: ReadonlyMap<string, TaskClassOptions>;
}

/** BullMQ's own per-queue event stream: we keep it short, our feeds are the public record. */
export const BULL_EVENTS_MAXLEN = 1_000;

export class TaskQueues {
  private readonly queues = new Map<string, Queue>();
  /** `orq-schedules`: each schedule's next tick as a delayed job (src/schedules/schedule-timers.ts). */
  readonly scheduleTicks: Queue;

  constructor(private readonly opts: TaskQueuesOptions) {
    for (const cls of opts.classes.values()) {
      this.queues.set(
        cls.name,
        new Queue(cls.name, {
          connection: opts.redis,
          prefix: opts.keys.queuePrefixOf(cls.name),
          streams: { events: { maxLen: BULL_EVENTS_MAXLEN } },
          // Retention (keepCompleted / keepFailed) is applied by the orchestrator's sweeper
          // (task-retention.ts), so it is not stored in every job's options.
        }),
      );
    }
    this.scheduleTicks = new Queue(SCHEDULE_QUEUE, { connection: opts.redis, prefix: opts.keys.scheduleQueuePrefix });
    // A Queue re-emits its connection's errors; with no listener BullMQ prints each one to
    // stderr, a stack trace per queue per reconnect while Redis is down. The failing call gets
    // its own error (UNAVAILABLE) and Health reports Redis down, as for our own connections.
    for (const q of [...this.queues.values(), this.scheduleTicks]) q.on('error', () => undefined);
  }

  /** The connection every queue writes on (BullMQ's, shared). */
  get connection(): RedisClient {
    return this.opts.redis;
  }

  get classes(): ReadonlyMap<string, TaskClassOptions> {
    return this.opts.classes;
  }

  /** The queue of a class; invalid_argument naming `field` when there is none. */
  get(taskClass: string, field = 'task_class'): Queue {
    const q = this.queues.get(taskClass);
    if (!q) throw invalidArgument(field, `unknown class "${taskClass}"`);
    return q;
  }

  all(): IterableIterator<[string, Queue]> {
    return this.queues.entries();
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values(), this.scheduleTicks].map((q) => q.close()));
  }
}
