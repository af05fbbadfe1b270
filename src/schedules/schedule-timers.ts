/**
 * The ticking of schedules, left to BullMQ's job schedulers on one internal queue
 * (`orq-schedules`, src/store/keys.ts): one job scheduler per active schedule, keyed by the
 * schedule id. BullMQ adds a scheduler's next job, with id "repeat:<scheduler id>:<tick ms>",
 * when a worker takes the current one, so every tick is one job however many orchestrators run
 * a worker on the queue; src/schedules/schedule-runner.ts processes them. That addition is not
 * in the script that takes the job: a process dying in between stops the timer, which
 * stuck() recognises and the runner's reconcile re-creates.
 *
 * The job carries the schedule id (and, once its tick is being submitted, the task): the runner
 * reads the spec from the store at each tick, so an update applies from the next tick on
 * without touching queued jobs.
 */
import type { TaskSubmission } from '../tasks/task-spec.js';
import { Queue, type JobSchedulerJson } from 'bullmq';
import type { RedisClient } from '../redis/redis-client.js';
import type { WrittenKeys } from '../redis/replica-wait.js';
import { SCHEDULE_QUEUE, type Keys } from '../store/keys.js';
import { BULL_EVENTS_MAXLEN } from '../tasks/task-queues.js';
import { repeatOptions, type ScheduleSpec } from './schedule-spec.js';

/** The data of a tick job. */
export interface TickJobData {
  scheduleId: string;
  /**
   * The task this tick submits, saved on the tick job before its first submission: a retry (or
   * another orchestrator taking the tick over) submits the same content even when the schedule
   * was updated in between, so the claim finds it as the same task and queues its job if the
   * first try did not get that far.
   */
  task?: TaskSubmission;
}

export const TICK_JOB_NAME = 'tick';
/** A tick whose submission failed (Redis away a moment) is retried; the task id keeps it once. */
const TICK_ATTEMPTS = 5;
const TICK_BACKOFF_MS = 500;

export interface ScheduleTimersOptions {
  /** BullMQ's connection (never our own; see src/redis/connection.ts). */
  bullRedis: RedisClient;
  keys: Keys;
  /** BullMQ's connection of acknowledged writes (src/redis/write-connections.ts): apply and remove write there. @default bullRedis */
  bullWrites?: RedisClient;
}

/** The tick time of a scheduler job id "repeat:<scheduler id>:<tick ms>". */
export function tickOf(jobId: string): number {
  return Number(jobId.slice(jobId.lastIndexOf(':') + 1));
}

/** How overdue a tick may be before its timer counts as stopped (a busy runner is late, not stuck). */
const STUCK_AFTER_MS = 120_000;

export class ScheduleTimers {
  readonly queue: Queue<TickJobData>;
  /** The same queue on the connection of acknowledged writes (the queue itself when there is none apart). */
  private readonly writeQueue: Queue<TickJobData>;

  constructor(private readonly opts: ScheduleTimersOptions) {
    const open = (connection: RedisClient) => {
      const q = new Queue<TickJobData>(SCHEDULE_QUEUE, {
        connection,
        prefix: opts.keys.scheduleQueuePrefix,
        streams: { events: { maxLen: BULL_EVENTS_MAXLEN } },
      });
      // As for the class queues (src/tasks/task-queues.ts): connection errors reach the failing
      // call; without a listener BullMQ prints every one to stderr while Redis is down.
      q.on('error', () => undefined);
      return q;
    };
    this.queue = open(opts.bullRedis);
    this.writeQueue = opts.bullWrites && opts.bullWrites !== opts.bullRedis ? open(opts.bullWrites) : this.queue;
  }

  /**
   * Starts or re-times the schedule's ticks; a paused schedule has none. `written`: where a
   * caller's acknowledgement notes what was written (src/redis/replica-wait.ts).
   */
  async apply(spec: ScheduleSpec, written?: WrittenKeys): Promise<void> {
    written?.note(this.opts.bullWrites ?? this.opts.bullRedis, this.queue.keys.meta!);
    if (spec.paused) {
      await this.remove(spec.scheduleId, written);
      return;
    }
    await this.writeQueue.upsertJobScheduler(spec.scheduleId, repeatOptions(spec), {
      name: TICK_JOB_NAME,
      data: { scheduleId: spec.scheduleId },
      opts: { attempts: TICK_ATTEMPTS, backoff: { type: 'exponential', delay: TICK_BACKOFF_MS } },
    });
  }

  async remove(scheduleId: string, written?: WrittenKeys): Promise<void> {
    written?.note(this.opts.bullWrites ?? this.opts.bullRedis, this.queue.keys.meta!);
    await this.writeQueue.removeJobScheduler(scheduleId);
  }

  /** Whether the job scheduler of `spec` exists with the timing the spec asks for. */
  static matches(spec: ScheduleSpec, js: JobSchedulerJson | undefined): boolean {
    if (!js) return false;
    const want = repeatOptions(spec);
    return (
      (js.pattern ?? '') === (want.pattern ?? '') &&
      (js.every ?? 0) === (want.every ?? 0) &&
      (js.pattern ? (js.tz ?? '') === (want.tz ?? '') : true) &&
      (js.startDate ?? 0) === Number(want.startDate ?? 0) &&
      (js.endDate ?? 0) === Number(want.endDate ?? 0)
    );
  }

  /**
   * Whether a timer has stopped: its next tick is more than STUCK_AFTER_MS overdue and no job for
   * it is waiting or running. BullMQ adds the next tick job when a worker takes the current
   * one, outside the script that takes it; a process dying in between, or a tick job that
   * stalled too often, leaves a scheduler that never fires again.
   */
  async stuck(js: JobSchedulerJson): Promise<boolean> {
    if (!js.next || js.next > Date.now() - STUCK_AFTER_MS) return false;
    const job = await this.queue.getJob(`repeat:${js.key}:${js.next}`);
    if (!job) return true;
    const state = await job.getState();
    return state === 'completed' || state === 'failed' || state === 'unknown';
  }

  /** Whether the schedule's timer is as its spec asks (none for a paused one). */
  async isCurrent(spec: ScheduleSpec): Promise<boolean> {
    const js = await this.queue.getJobScheduler(spec.scheduleId);
    return spec.paused ? !js : ScheduleTimers.matches(spec, js);
  }

  /** Every job scheduler on the queue, by schedule id. */
  async all(): Promise<Map<string, JobSchedulerJson>> {
    const list = await this.queue.getJobSchedulers(0, -1, true);
    return new Map(list.map((js) => [js.key, js]));
  }

  /** When the schedule fires next (0: it does not). */
  async next(scheduleId: string): Promise<number> {
    return (await this.queue.getJobScheduler(scheduleId))?.next ?? 0;
  }

  async close(): Promise<void> {
    await Promise.all([this.queue.close(), this.writeQueue !== this.queue && this.writeQueue.close()]);
  }
}
