/**
 * Fires schedules: a BullMQ Worker on the internal tick queue (src/schedules/schedule-timers.ts)
 * that submits the schedule's task for each tick job. Every orchestrator runs one; BullMQ hands
 * each tick job to one of them.
 *
 * Exactly one task per tick: the task id is "<schedule_id>.<tick ms>", claimed by the ordinary
 * submission path (src/tasks/submitter.ts), which in the same script records the tick as the
 * schedule's last. A tick job that is retried, or taken over from an orchestrator that died while
 * submitting it (BullMQ's stalled-job check), finds its task already there, or its tick already
 * recorded when retention has since removed that task, and submits nothing new.
 *
 * Ticks missed while no orchestrator ran: the one tick job that was due fires when a runner is
 * back, late; BullMQ then times the next tick from the schedule, so missed ticks do not pile up.
 */
import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { RedisClient } from '../redis/redis-client.js';
import type { Logger } from '../logging/logger.js';
import { createRedis } from '../redis/connection.js';
import { SCHEDULE_QUEUE, type Keys } from '../store/keys.js';
import { OrchestratorError } from '../errors/errors.js';
import type { TaskSubmitter } from '../tasks/submitter.js';
import type { ScheduleStore } from './schedule-store.js';
import { ScheduleTimers, tickOf, type TickJobData } from './schedule-timers.js';
import { repeatLimited } from '../logging/repeat-limiter.js';

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
  /** How often the timers are checked against the store (reconcile()). @default 60000 */
  reconcileIntervalMs?: number;
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
  private connection?: RedisClient;
  private reconcileTimer?: NodeJS.Timeout;
  private reconciling?: Promise<void>;

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
    const workerError = repeatLimited(this.log, 'error');
    this.worker.on('error', (err) => workerError(err, 'schedule worker error'));
    this.worker.on('failed', (job, err) => this.log.warn({ err, scheduleId: job?.data.scheduleId, tick: job?.id }, 'a schedule tick failed'));
    // Not only at start: a write racing another (or a reconcile elsewhere) can leave a timer
    // behind its spec, and a tick job can die without BullMQ scheduling the next one.
    this.reconcileTimer = setInterval(() => {
      this.reconciling ??= this.reconcile()
        .catch((err: unknown) => this.log.warn({ err }, 'reconciling schedules failed'))
        .finally(() => (this.reconciling = undefined));
    }, this.opts.reconcileIntervalMs ?? 60_000);
    this.reconcileTimer.unref();
  }

  /**
   * Stops taking ticks and lets the ones being submitted finish, for at most `graceMs`. An
   * unfinished tick is taken over by another orchestrator once its lock lapses.
   */
  async close(graceMs = 5_000): Promise<void> {
    clearInterval(this.reconcileTimer);
    await this.reconciling;
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
   * scheduler key, a crash between a write's two steps, a tick job that ended without BullMQ
   * scheduling the next) and removes timers of schedules that are gone or paused. Timers are read before the store, so a schedule created in between is
   * never taken for a leftover and removed.
   */
  async reconcile(): Promise<void> {
    const { timers, store } = this.opts;
    const current = await timers.all();
    const stored = await store.list();
    await store.seedTicks(stored);
    const ids = new Set(stored.map((s) => s.spec.scheduleId));
    let fixed = 0;
    const now = Date.now();
    for (const { spec } of stored) {
      const js = current.get(spec.scheduleId);
      // An ended schedule fires no more: its timer is neither missing nor stuck (BullMQ adds no
      // ticks past its end date, and re-creating it would add none either).
      if (!spec.paused && spec.endAtMs && spec.endAtMs < now) continue;
      if (spec.paused ? js !== undefined : !ScheduleTimers.matches(spec, js) || (await timers.stuck(js!))) {
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
    if (!stored || stored.spec.paused) {
      // Deleted or paused after this tick job was queued, or a timer left behind by a delete
      // that raced a create: a schedule without a spec to fire has no timer.
      await this.opts.timers.remove(scheduleId);
      return 'skipped';
    }
    if (stored.spec.endAtMs && tickMs > stored.spec.endAtMs) {
      // BullMQ times the next tick from the last one while its end date has not passed, so the
      // last tick it adds can lie past end_at_ms: no tick fires after the schedule's end.
      log.debug({ endAtMs: stored.spec.endAtMs }, 'tick past the schedule end; skipped');
      return 'ended';
    }
    const taskId = tickTaskId(scheduleId, tickMs);
    let task = job.data.task;
    if (!task) {
      task = stored.spec.task;
      await job.updateData({ ...job.data, task });
    }
    try {
      const o = await this.opts.submitter.submit({ ...task, taskId, scheduleId, scheduleTickMs: tickMs });
      if (!o.created) log.debug({ taskId }, 'tick was submitted before');
    } catch (err) {
      if (err instanceof OrchestratorError && err.code === 'already_exists') {
        // Someone else submitted a task under this tick's id: the tick has its task.
        log.warn({ taskId }, "a task with this tick's id and other content exists; the tick submits nothing");
      } else if (err instanceof OrchestratorError && err.code === 'invalid_argument') {
        // Valid when stored, refused now (a class removed from the config): retrying cannot help.
        log.error({ err, taskId }, "a schedule's task is no longer valid; the tick is skipped");
        throw new UnrecoverableError(err.message);
      } else {
        throw err;
      }
    }
    return taskId;
  }
}
