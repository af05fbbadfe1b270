/**
 * Schedule validation and the BullMQ timing derived from it, without Redis: which field each bad
 * input is blamed on, what is normalised, and when a stored timer counts as current.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_TASK_CLASSES } from '../queues/task-classes.js';
import { canonicalJson, nextCronTick, repeatOptions, validateSchedule, type ScheduleSpec } from '../src/schedules/schedule-spec.js';
import { ScheduleTimers, tickOf } from '../src/schedules/schedule-timers.js';
import { nextRunAt } from '../src/schedules/schedule-service.js';
import { OrchestratorError } from '../src/errors/errors.js';
import { resolveTask } from '../src/tasks/task-spec.js';

const classes = new Map(DEFAULT_TASK_CLASSES.map((c) => [c.name, c]));
const checkTask = (t: Parameters<typeof resolveTask>[0], field: string) => void resolveTask(t, { classes, maxPayloadBytes: 1 << 20, field });
const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);

const spec = (over: Partial<ScheduleSpec> = {}): ScheduleSpec => ({
  scheduleId: 'nightly',
  cron: '',
  tz: '',
  everyMs: 0,
  startAtMs: 0,
  endAtMs: 0,
  task: { taskClass: 'cpu_short', payload: { a: '1' } },
  paused: false,
  ...over,
});

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof OrchestratorError && err.code === 'invalid_argument') return err.field;
    throw err;
  }
  return undefined;
}

describe('validateSchedule', () => {
  it.each([
    [{ cron: 'not a cron' }, 'schedule.cron'],
    [{ cron: '* * * * * * *' }, 'schedule.cron'],
    [{ cron: '0 0 31 2 *' }, 'schedule.cron'],
    [{ cron: '* * * * *', everyMs: 1_000 }, 'schedule.cron'],
    [{}, 'schedule.every_ms'],
    [{ everyMs: -5 }, 'schedule.every_ms'],
    [{ everyMs: 99 }, 'schedule.every_ms'],
    [{ everyMs: 1.5 }, 'schedule.every_ms'],
    [{ cron: '* * * * *', tz: 'Nowhere/Special' }, 'schedule.tz'],
    [{ everyMs: 1_000, tz: 'UTC' }, 'schedule.tz'],
    [{ everyMs: 1_000, scheduleId: '' }, 'schedule.schedule_id'],
    [{ everyMs: 1_000, scheduleId: 'x'.repeat(101) }, 'schedule.schedule_id'],
    [{ everyMs: 1_000, endAtMs: NOW - 1 }, 'schedule.end_at_ms'],
    [{ everyMs: 1_000, startAtMs: NOW + 10_000, endAtMs: NOW + 5_000 }, 'schedule.end_at_ms'],
    [{ everyMs: 1_000, task: { taskClass: 'nope', payload: { a: '1' } } }, 'schedule.task.task_class'],
    [{ everyMs: 1_000, task: { taskClass: 'cpu_short', payload: { a: '1' }, priority: 5_000 } }, 'schedule.task.priority'],
    [{ everyMs: 1_000, task: { taskClass: 'cpu_short', payload: { a: '1' }, taskId: 'mine' } }, 'schedule.task.task_id'],
  ] as [Partial<ScheduleSpec>, string][])('refuses %j naming %s', (over, field) => {
    expect(fieldOf(() => validateSchedule(spec(over), checkTask, 'schedule', NOW))).toBe(field);
  });

  it('accepts a 100-character id, whose tick task ids stay within 128 characters', () => {
    const id = 'a'.repeat(100);
    expect(() => validateSchedule(spec({ scheduleId: id, everyMs: 1_000 }), checkTask, 'schedule', NOW)).not.toThrow();
    expect(`${id}.${NOW}`.length).toBeLessThanOrEqual(128);
  });

  it('normalises the whitespace of a cron expression', () => {
    expect(validateSchedule(spec({ cron: '  0  30 2 * * * ' }), checkTask, 'schedule', NOW).cron).toBe('0 30 2 * * *');
  });
});

describe('cron timing', () => {
  it('reads the expression in its time zone, following daylight saving time', () => {
    // 09:00 in Berlin is 08:00 UTC in winter (CET) and 07:00 UTC in summer (CEST).
    expect(new Date(nextCronTick('0 0 9 * * *', 'Europe/Berlin', NOW)!).toISOString()).toBe('2026-11-28T08:00:00.000Z');
    expect(new Date(nextCronTick('0 0 9 * * *', 'Europe/Berlin', Date.UTC(2026, 6, 1))!).toISOString()).toBe('2026-07-01T07:00:00.000Z');
    expect(new Date(nextCronTick('0 0 9 * * *', '', NOW)!).toISOString()).toBe('2026-11-28T09:00:00.000Z');
  });

  it('has no tick past the end', () => {
    expect(nextCronTick('0 0 9 * * *', 'UTC', NOW, NOW + 3_600_000)).toBeUndefined();
  });
});

describe('the next run reported', () => {
  it("is the scheduler's next tick while that tick is still to fire", () => {
    expect(nextRunAt(spec({ everyMs: 1_000 }), NOW + 1_000, NOW)).toBe(NOW + 1_000);
    expect(nextRunAt(spec({ everyMs: 1_000 }), NOW + 1_000, 0)).toBe(NOW + 1_000);
  });

  it("is the tick after the last one when the scheduler's next is the tick that just fired", () => {
    // Between a tick's firing and the scheduler timing the following one.
    expect(nextRunAt(spec({ everyMs: 1_000 }), NOW, NOW)).toBe(NOW + 1_000);
    expect(nextRunAt(spec({ cron: '0 9 * * *', tz: 'Europe/Berlin' }), NOW, NOW)).toBe(nextCronTick('0 9 * * *', 'Europe/Berlin', NOW));
  });

  it('is none past the end, when paused, or without a timer', () => {
    expect(nextRunAt(spec({ everyMs: 1_000, endAtMs: NOW + 500 }), NOW, NOW)).toBe(0);
    expect(nextRunAt(spec({ everyMs: 1_000, endAtMs: NOW + 500 }), NOW + 1_000, NOW - 1_000)).toBe(0);
    expect(nextRunAt(spec({ cron: '0 9 * * *', endAtMs: NOW + 60_000 }), NOW, NOW)).toBe(0);
    expect(nextRunAt(spec({ everyMs: 1_000, paused: true }), NOW + 1_000, NOW)).toBe(0);
    expect(nextRunAt(spec({ everyMs: 1_000 }), 0, NOW)).toBe(0);
  });
});

describe('BullMQ timing', () => {
  it('derives repeat options and recognises a current timer', () => {
    const cron = spec({ cron: '0 0 9 * * *', tz: 'Europe/Berlin', endAtMs: NOW + 86_400_000 });
    expect(repeatOptions(cron)).toEqual({ pattern: '0 0 9 * * *', tz: 'Europe/Berlin', endDate: NOW + 86_400_000 });
    expect(ScheduleTimers.matches(cron, { key: 'nightly', name: 'tick', pattern: '0 0 9 * * *', tz: 'Europe/Berlin', endDate: NOW + 86_400_000 })).toBe(true);
    expect(ScheduleTimers.matches(cron, { key: 'nightly', name: 'tick', pattern: '0 0 9 * * *', tz: 'UTC', endDate: NOW + 86_400_000 })).toBe(false);
    expect(ScheduleTimers.matches(cron, undefined)).toBe(false);
    const every = spec({ everyMs: 5_000 });
    expect(repeatOptions(every)).toEqual({ every: 5_000 });
    expect(ScheduleTimers.matches(every, { key: 'nightly', name: 'tick', every: 5_000 })).toBe(true);
    expect(ScheduleTimers.matches(every, { key: 'nightly', name: 'tick', every: 6_000 })).toBe(false);
  });

  it('reads the tick time from a scheduler job id', () => {
    expect(tickOf('repeat:nightly.v2:1795764971000')).toBe(1795764971000);
  });

  it('compares specs whatever the order of their keys', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: 'x' } })).toBe(canonicalJson({ a: { c: 'x', d: [2, 1] }, b: 1 }));
  });
});
