/**
 * One BullMQ Queue per task class (per partition of a partitioned class on a Redis Cluster:
 * `classes.<name>.partitions`, src/store/keys.ts), created once and shared by the submitter,
 * status lookups and metrics; and a view of the internal queue schedule ticks wait on, for the
 * dashboard. Every partition's queue has the class's name and a prefix of its own (its hash tag),
 * so a task's job key is `<partition's tag>:q:<class>:<task_id>`.
 */
import { Queue, type JobType } from 'bullmq';
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

/** One partition's queue of a class. */
export interface PartitionQueue {
  taskClass: string;
  partition: number;
  queue: Queue;
}

export class TaskQueues {
  /** Per class, its partitions' queues by partition number (one for an unpartitioned class). */
  private readonly queues = new Map<string, Queue[]>();
  /** `orq-schedules`: each schedule's next tick as a delayed job (src/schedules/schedule-timers.ts). */
  readonly scheduleTicks: Queue;

  constructor(private readonly opts: TaskQueuesOptions) {
    for (const cls of opts.classes.values()) {
      this.queues.set(
        cls.name,
        opts.keys.partitions(cls.name).map(
          (p) =>
            new Queue(cls.name, {
              connection: opts.redis,
              prefix: opts.keys.queuePrefixOf(cls.name, p),
              streams: { events: { maxLen: BULL_EVENTS_MAXLEN } },
              // Retention (keepCompleted / keepFailed) is applied by the orchestrator's sweeper
              // (task-retention.ts), so it is not stored in every job's options.
            }),
        ),
      );
    }
    this.scheduleTicks = new Queue(SCHEDULE_QUEUE, { connection: opts.redis, prefix: opts.keys.scheduleQueuePrefix });
    // A Queue re-emits its connection's errors; with no listener BullMQ prints each one to
    // stderr, a stack trace per queue per reconnect while Redis is down. The failing call gets
    // its own error (UNAVAILABLE) and Health reports Redis down, as for our own connections.
    for (const q of [...this.queues.values()].flat().concat(this.scheduleTicks)) q.on('error', () => undefined);
  }

  /** The connection every queue writes on (BullMQ's, shared). */
  get connection(): RedisClient {
    return this.opts.redis;
  }

  get classes(): ReadonlyMap<string, TaskClassOptions> {
    return this.opts.classes;
  }

  /** Every partition's queue of a class (one unless partitioned); invalid_argument naming `field` for an unknown class. */
  partitionsOf(taskClass: string, field = 'task_class'): readonly Queue[] {
    const qs = this.queues.get(taskClass);
    if (!qs) throw invalidArgument(field, `unknown class "${taskClass}"`);
    return qs;
  }

  /** The queue holding task `taskId` of `taskClass` (its partition's); invalid_argument naming `field` for an unknown class. */
  of(taskClass: string, taskId: string, field = 'task_class'): Queue {
    return this.partitionsOf(taskClass, field)[this.opts.keys.partitionOf(taskClass, taskId)]!;
  }

  /** BullMQ's job counts of a class, every partition's added up. */
  async jobCounts(taskClass: string, ...types: JobType[]): Promise<Record<string, number>> {
    const all = await Promise.all(this.partitionsOf(taskClass).map((q) => q.getJobCounts(...types)));
    const sum: Record<string, number> = {};
    for (const counts of all) for (const [k, n] of Object.entries(counts)) sum[k] = (sum[k] ?? 0) + (n ?? 0);
    return sum;
  }

  /** Whether a class is paused: every partition's queue is (pause and resume act on them all). */
  async isPaused(taskClass: string): Promise<boolean> {
    return (await Promise.all(this.partitionsOf(taskClass).map((q) => q.isPaused()))).every(Boolean);
  }

  /** Each class with its partitions' queues. */
  all(): IterableIterator<[string, readonly Queue[]]> {
    return this.queues.entries();
  }

  /** Every queue, one per (class, partition). */
  *each(): Generator<PartitionQueue> {
    for (const [taskClass, qs] of this.queues)
      for (let partition = 0; partition < qs.length; partition++) yield { taskClass, partition, queue: qs[partition]! };
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.queues.values()]
        .flat()
        .concat(this.scheduleTicks)
        .map((q) => q.close()),
    );
  }
}
