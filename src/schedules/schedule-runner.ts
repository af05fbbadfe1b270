/**
 * Fires schedules: a BullMQ Worker on the internal tick queue (src/schedules/schedule-timers.ts)
 * that submits the schedule's task for each tick job. Every orchestrator runs one; BullMQ hands
 * each tick job to one of them.
 *
 * Exactly one task per tick: the task id is "<schedule_id>.<tick ms>", claimed by the ordinary
 * submission path (src/tasks/submitter.ts). A tick job that is retried, or taken over from an
 * orchestrator that died while submitting it (BullMQ's stalled-job check), finds its task
 * already there and submits nothing new.
 *
 * Ticks missed while no orchestrator ran: the one tick job that was due fires when a runner is
 * back, late; BullMQ then times the next tick from the schedule, so missed ticks do not pile up.
 */
import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import { createRedis } from '../redis/connection.js';
import { SCHEDULE_QUEUE, type Keys } from '../redis/keys.js';
import { OrchestratorError } from '../tasks/errors.js';
import type { TaskSubmitter } from '../tasks/submitter.js';
import type { ScheduleStore } from './schedule-store.js';
import { ScheduleTimers, tickOf, type TickJobData } from './schedule-timers.js';

export interface ScheduleRunnerOptions {
  redisUrl: string;
  keys: Keys;
  store: ScheduleStore;
  timers: ScheduleTimers;
  submitter: TaskSubmitter;
  logger: Logger;
  /** Tick jobs submitted at once by this process. @default 4 */
  concurrency?: number;
  /**
   * How long a tick job stays locked to this process; a process that dies mid-tick hands it
   * over after about this long. @default 30000
   */
  lockDurationMs?: number;
}

/**
 * Finished tick jobs kept for inspection (a tick job's return value is the task it submitted, its
 * processedBy the orchestrator); the fired tasks are the record that matters.
 */
const KEEP_TICKS = 100;

/** The task id a tick submits: a plain "." joins them, as BullMQ refuses ":" in job ids. */
export const tickTaskId = (scheduleId: string, tickMs: number): string => `${scheduleId}.${tickMs}`;

export class ScheduleRunner {
  private readonly log: Logger;
  private worker?: Worker<TickJobData>;
  private connection?: Redis;

  constructor(private readonly opts: ScheduleRunnerOptions) {
    this.log = opts.logger.child({ component: 'schedule-runner' });
  }

  /** Repairs the timers from the store, then starts taking tick jobs. */
  async start(): Promise<void> {
    await this.reconcile();
    // A connection of its own: the Worker blocks on it, and the front end's connections fail
    // fast rather than wait for Redis (src/redis/connection.ts).
    this.connection = createRedis(this.opts.redisUrl, { connectionName: 'orq-schedule-runner' });
    const lockDuration = this.opts.lockDurationMs ?? 30_000;
    this.worker = new Worker<TickJobData>(SCHEDULE_QUEUE, (job) => this.fire(job), {
      connection: this.connection,
      prefix: this.opts.keys.scheduleQueuePrefix,
      name: `${hostname()}-${process.pid}`,
      concurrency: this.opts.concurrency ?? 4,
      lockDuration,
      stalledInterval: lockDuration,
      removeOnComplete: { count: KEEP_TICKS },
      removeOnFail: { count: KEEP_TICKS },
    });
    this.worker.on('error', (err) => this.log.error({ err }, 'schedule worker error'));
    this.worker.on('failed', (job, err) => this.log.warn({ err, scheduleId: job?.data.scheduleId, tick: job?.id }, 'a schedule tick failed'));
  }

  /**
   * Stops taking ticks and lets the ones being submitted finish, for at most `graceMs`. An
   * unfinished tick is taken over by another orchestrator once its lock lapses.
   */
  async close(graceMs = 5_000): Promise<void> {
    if (this.worker) {
      // With Redis away, a graceful close would wait for ever on its QUIT: cut the connections.
      const closed = this.worker.close(this.connection?.status !== 'ready').catch((err: unknown) => this.log.debug({ err }, 'closing the schedule worker'));
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([closed.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
      clearTimeout(timer);
      if (late) this.log.warn({ graceMs }, 'schedule ticks still running at close; left to another orchestrator');
    }
    this.connection?.disconnect();
  }

  /**
   * Makes BullMQ's job schedulers match the store: re-creates missing or stale timers (a lost
   * scheduler key, a crash between a write's two steps) and removes timers of schedules that
   * are gone or paused. Timers are read before the store, so a schedule created in between is
   * never taken for a leftover and removed.
   */
  async reconcile(): Promise<void> {
    const { timers, store } = this.opts;
    const current = await timers.all();
    const stored = await store.list();
    const ids = new Set(stored.map((s) => s.spec.scheduleId));
    let fixed = 0;
    for (const { spec } of stored) {
      const js = current.get(spec.scheduleId);
      if (spec.paused ? js !== undefined : !ScheduleTimers.matches(spec, js)) {
        await timers.apply(spec);
        fixed += 1;
      }
    }
    for (const id of current.keys()) {
      if (ids.has(id)) continue;
      await timers.remove(id);
      fixed += 1;
    }
    this.log.info({ schedules: stored.length, fixed }, 'schedules reconciled');
  }

  /** Submits the task of one tick. */
  private async fire(job: Job<TickJobData>): Promise<string> {
    const scheduleId = job.data.scheduleId;
    const tickMs = tickOf(job.id ?? '');
    const log = this.log.child({ scheduleId, tick: tickMs });
    if (!Number.isSafeInteger(tickMs)) throw new UnrecoverableError(`tick job ${job.id} has no tick time`);
    const stored = await this.opts.store.find(scheduleId);
    // Deleted or paused after this tick job was queued.
    if (!stored || stored.spec.paused) return 'skipped';
    const taskId = tickTaskId(scheduleId, tickMs);
    try {
      const o = await this.opts.submitter.submit({ ...stored.spec.task, taskId, scheduleId });
      if (!o.created) log.debug({ taskId }, 'tick was submitted before');
    } catch (err) {
      if (err instanceof OrchestratorError && err.code === 'already_exists') {
        // The spec changed after this tick's task was submitted: the tick has its task.
        log.debug({ taskId }, 'tick was submitted before, with the spec of then');
      } else if (err instanceof OrchestratorError && err.code === 'invalid_argument') {
        // Valid when stored, refused now (a class removed from the config): retrying cannot help.
        log.error({ err, taskId }, "a schedule's task is no longer valid; the tick is skipped");
        throw new UnrecoverableError(err.message);
      } else {
        throw err;
      }
    }
    await this.opts.store.recordRun(scheduleId, tickMs, taskId);
    return taskId;
  }
}
