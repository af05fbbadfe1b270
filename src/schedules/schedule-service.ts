/**
 * Create, read, update and delete schedules: the calls behind the Schedule RPCs.
 *
 * Every write goes to the store first and to BullMQ's job scheduler second. A crash between
 * the two leaves a stored schedule whose timer is missing or stale, which the next orchestrator
 * start repairs (ScheduleRunner.reconcile); never a timer without a stored schedule that fires
 * anything, since the runner reads the spec from the store at each tick.
 */
import type { TaskCheck, ScheduleSpec, ScheduleView, StoredSchedule } from './schedule-spec.js';
import { nextCronTick, validateSchedule } from './schedule-spec.js';
import type { ScheduleStore } from './schedule-store.js';
import type { ScheduleTimers } from './schedule-timers.js';
import type { WrittenKeys } from '../redis/replica-wait.js';

export interface ScheduleServiceOptions {
  store: ScheduleStore;
  timers: ScheduleTimers;
  /** Checks a schedule's task as SubmitTask would (TaskSubmitter.prepare). */
  checkTask: TaskCheck;
}

/**
 * When a schedule fires next, as GetSchedule and ListSchedules report it: 0 when it will not fire
 * again. BullMQ's job scheduler times the next tick when it hands out the tick before, so right
 * after a tick fired (recorded as the last one) its "next" can still be that tick; it also keeps
 * its last tick as its "next" once it stops adding ticks (end_at_ms passed), and may have timed
 * one tick past end_at_ms that the runner skips. So a "next" at or before the last tick recorded
 * stands for the tick that follows the last one by the spec, and a tick past end_at_ms is none.
 */
export function nextRunAt(spec: ScheduleSpec, schedulerNextMs: number, lastTickMs: number): number {
  if (spec.paused || !schedulerNextMs) return 0;
  const next = lastTickMs && schedulerNextMs <= lastTickMs ? tickAfter(spec, lastTickMs) : schedulerNextMs;
  if (!next || (spec.endAtMs && next > spec.endAtMs)) return 0;
  return next;
}

/** The spec's tick after `tickMs` (a tick of it); 0 when there is none. */
function tickAfter(spec: ScheduleSpec, tickMs: number): number {
  return spec.cron ? (nextCronTick(spec.cron, spec.tz, tickMs, spec.endAtMs) ?? 0) : tickMs + spec.everyMs;
}

/** The request field that holds the schedule, for error messages. */
const FIELD = 'schedule';

export class ScheduleService {
  constructor(private readonly opts: ScheduleServiceOptions) {}

  /**
   * Idempotent on the id with the same spec; already_exists with a different one. `written`:
   * where a caller's acknowledgement notes what was written (src/redis/replica-wait.ts).
   */
  async create(input: ScheduleSpec, written?: WrittenKeys): Promise<ScheduleView> {
    const spec = validateSchedule(input, this.opts.checkTask, FIELD);
    const { stored, created } = await this.opts.store.create(spec, `${FIELD}.schedule_id`, Date.now(), written);
    // When it existed, only a missing or stale timer is set: a create retried after a crash
    // between the two writes completes it, and a plain repeat leaves the ticks as they are.
    if (created || !(await this.opts.timers.isCurrent(stored.spec))) await this.opts.timers.apply(stored.spec, written);
    return this.view(stored);
  }

  /** Replaces the whole spec; not_found when unknown. `written`: as for create. */
  async update(input: ScheduleSpec, written?: WrittenKeys): Promise<ScheduleView> {
    const spec = validateSchedule(input, this.opts.checkTask, FIELD);
    const stored = await this.opts.store.replace(spec, `${FIELD}.schedule_id`, Date.now(), written);
    await this.opts.timers.apply(spec, written);
    return this.view(stored);
  }

  async delete(scheduleId: string, written?: WrittenKeys): Promise<void> {
    await this.opts.store.delete(scheduleId, written);
    await this.opts.timers.remove(scheduleId, written);
  }

  async get(scheduleId: string): Promise<ScheduleView> {
    return this.view(await this.opts.store.get(scheduleId));
  }

  async list(): Promise<ScheduleView[]> {
    const [all, timers] = await Promise.all([this.opts.store.list(), this.opts.timers.all()]);
    const last = await this.opts.store.lastRuns(all);
    return all.map((s) => {
      const id = s.spec.scheduleId;
      const lastRunAtMs = last.get(id)?.tickMs ?? 0;
      return {
        ...s,
        nextRunAtMs: nextRunAt(s.spec, timers.get(id)?.next ?? 0, lastRunAtMs),
        lastRunAtMs,
        lastTaskId: last.get(id)?.taskId ?? '',
      };
    });
  }

  private async view(s: StoredSchedule): Promise<ScheduleView> {
    const id = s.spec.scheduleId;
    const [next, last] = await Promise.all([s.spec.paused ? 0 : this.opts.timers.next(id), this.opts.store.lastRuns([s])]);
    const lastRunAtMs = last.get(id)?.tickMs ?? 0;
    return { ...s, nextRunAtMs: nextRunAt(s.spec, next, lastRunAtMs), lastRunAtMs, lastTaskId: last.get(id)?.taskId ?? '' };
  }
}
