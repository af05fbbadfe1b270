/** orchctl schedule create | list | get | update | delete: recurring task submissions. */
import type { Command } from 'commander';
import { executorInputFromPb } from '../executors/client-executors.js';
import { BackoffType, type Schedule, type ScheduleInput, type TaskInput } from '../client/orchestrator-client.js';
import { ListSchedulesResponse, Schedule as ScheduleMessage } from '../gen/orchestrator/v1/orchestrator.js';
import { CliError, EXIT, type CliContext } from './cli-context.js';

interface ScheduleFlags {
  cron?: string;
  tz?: string;
  everyMs?: string;
  startAt?: string;
  endAt?: string;
  class?: string;
  payload: string[];
  handler?: string;
  command?: string;
  arg: string[];
  priority?: string;
  attempts?: string;
  timeoutMs?: string;
  paused?: boolean;
  resume?: boolean;
}

const int = (v: string | undefined, flag: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new CliError(`${flag}: expected an integer, got "${v}"`, EXIT.usage);
  return n;
};

/** A time flag: milliseconds since the epoch, or an ISO 8601 date-time. */
function when(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(ms)) throw new CliError(`${flag}: expected ms since the epoch or an ISO date-time, got "${v}"`, EXIT.usage);
  return ms;
}

function pairs(list: string[], flag = '--payload'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of list) {
    const i = p.indexOf('=');
    if (i <= 0) throw new CliError(`${flag}: expected key=value, got "${p}"`, EXIT.usage);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

const iso = (ms: number) => (ms ? new Date(ms).toISOString() : '');

/** A stored task spec back into the client's input shape (for update's read-modify-write). */
function taskInputOf(s: Schedule): Omit<TaskInput, 'taskId'> {
  const t = s.spec!.task!;
  const executor = executorInputFromPb(t.executor);
  const backoffType =
    t.backoff?.type === BackoffType.BACKOFF_TYPE_FIXED ? 'fixed' : t.backoff?.type === BackoffType.BACKOFF_TYPE_EXPONENTIAL ? 'exponential' : undefined;
  return {
    taskClass: t.taskClass,
    payload: t.payload,
    priority: t.priority || undefined,
    workflowId: t.workflowId || undefined,
    maxAttempts: t.maxAttempts || undefined,
    backoff: t.backoff ? { type: backoffType, delayMs: t.backoff.delayMs } : undefined,
    timeoutMs: t.timeoutMs || undefined,
    delayMs: t.delayMs || undefined,
    executor,
  };
}

function inputOf(s: Schedule): ScheduleInput {
  const p = s.spec!;
  return {
    scheduleId: p.scheduleId,
    cron: p.cron,
    tz: p.tz,
    everyMs: p.everyMs,
    startAtMs: p.startAtMs,
    endAtMs: p.endAtMs,
    paused: p.paused,
    task: taskInputOf(s),
  };
}

/** Applies the flags given to `base` (a new schedule, or the stored one for update). */
function applyFlags(base: ScheduleInput, f: ScheduleFlags, argv: string[]): ScheduleInput {
  const s: ScheduleInput = { ...base, task: { ...base.task } };
  if (f.cron !== undefined && f.everyMs !== undefined) throw new CliError('give either --cron or --every-ms, not both', EXIT.usage);
  if (f.cron !== undefined) Object.assign(s, { cron: f.cron, everyMs: 0, tz: f.tz ?? (base.cron ? base.tz : '') });
  else if (f.everyMs !== undefined) Object.assign(s, { cron: '', tz: '', everyMs: int(f.everyMs, '--every-ms') });
  if (f.tz !== undefined) s.tz = f.tz;
  if (f.startAt !== undefined) s.startAtMs = when(f.startAt, '--start-at');
  if (f.endAt !== undefined) s.endAtMs = when(f.endAt, '--end-at');
  if (f.class !== undefined) s.task.taskClass = f.class;
  if (f.payload.length) s.task.payload = pairs(f.payload);
  if ([argv.length > 0, Boolean(f.handler), Boolean(f.command)].filter(Boolean).length > 1)
    throw new CliError('give one of --handler, --command or a raw command after --', EXIT.usage);
  if (f.arg.length && !f.command) throw new CliError('--arg goes with --command', EXIT.usage);
  if (f.command) s.task.executor = { command: { name: f.command, args: pairs(f.arg, '--arg') } };
  else if (argv.length) s.task.executor = { command: { argv } };
  else if (f.handler) s.task.executor = { handler: f.handler };
  if (f.priority !== undefined) s.task.priority = int(f.priority, '--priority');
  if (f.attempts !== undefined) s.task.maxAttempts = int(f.attempts, '--attempts');
  if (f.timeoutMs !== undefined) s.task.timeoutMs = int(f.timeoutMs, '--timeout-ms');
  if (f.paused) s.paused = true;
  if (f.resume) s.paused = false;
  return s;
}

function row(s: Schedule): Record<string, unknown> {
  const p = s.spec!;
  return {
    schedule: p.scheduleId,
    when: p.cron ? `cron ${p.cron} (${p.tz || 'UTC'})` : `every ${p.everyMs} ms`,
    cron: p.cron,
    tz: p.tz,
    every_ms: p.everyMs,
    class: p.task?.taskClass ?? '',
    payload: p.task?.payload ?? {},
    paused: p.paused,
    next: iso(s.nextRunAtMs),
    last: iso(s.lastRunAtMs),
    last_task: s.lastTaskId,
    start_at: iso(p.startAtMs),
    end_at: iso(p.endAtMs),
    created: iso(s.createdAtMs),
    updated: iso(s.updatedAtMs),
  };
}

/** The options create and update share. */
function timingAndTask(cmd: Command): Command {
  return cmd
    .option('--cron <expr>', 'cron expression: 5 fields, or 6 with seconds first (quote it)')
    .option('--tz <zone>', 'IANA time zone of --cron (default UTC)')
    .option('--every-ms <n>', 'fire every N milliseconds instead of a cron')
    .option('--start-at <time>', 'no tick before this (ms since the epoch or ISO date-time)')
    .option('--end-at <time>', 'no tick after this (ms since the epoch or ISO date-time)')
    .option('-c, --class <class>', 'task class')
    .option('-p, --payload <k=v>', 'payload entry (repeatable; on update, replaces the payload)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--handler <name>', 'handler executor (default echo)')
    .option('--command <name>', "a named command of the pools' config")
    .option('--arg <k=v>', 'a value of the named command (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--priority <n>', '0..1000, higher first')
    .option('--attempts <n>', 'attempts in all')
    .option('--timeout-ms <n>', 'per-attempt time limit')
    .argument('<schedule_id>')
    .argument('[command...]', "a raw command each tick runs (after --), where the class's policy allows raw commands");
}

export function registerScheduleCommands(program: Command, ctx: () => CliContext): void {
  const schedule = program
    .command('schedule')
    .description('recurring task submissions: a cron (with time zone) or an interval; task ids "<schedule>.<tick ms>"');
  const show = (c: CliContext, s: Schedule) => c.show(ScheduleMessage, s, row);

  timingAndTask(schedule.command('create').description('create a schedule (idempotent when the same spec exists)'))
    .option('--paused', 'store it without firing')
    .action(async (id: string, argv: string[], f: ScheduleFlags) => {
      const c = ctx();
      if (!f.class) throw new CliError('schedule create: --class is required', EXIT.usage);
      const base: ScheduleInput = { scheduleId: id, task: { taskClass: f.class, payload: {} } };
      show(c, await c.client().createSchedule(applyFlags(base, f, argv)));
    });

  schedule
    .command('list')
    .description('every schedule with its next and last tick')
    .action(async () => {
      const c = ctx();
      const schedules = await c.client().listSchedules();
      if (c.json) return c.jsonMessage(ListSchedulesResponse, { schedules });
      c.table(schedules.map(row), ['schedule', 'when', 'class', 'next', 'last_task', 'paused']);
    });

  schedule
    .command('get')
    .description('one schedule')
    .argument('<schedule_id>')
    .action(async (id: string) => show(ctx(), await ctx().client().getSchedule(id)));

  timingAndTask(schedule.command('update').description('change a schedule: flags given replace those values, the rest stay'))
    .option('--pause', 'stop firing (kept stored)')
    .option('--resume', 'fire again')
    .action(async (id: string, argv: string[], f: ScheduleFlags & { pause?: boolean }) => {
      const c = ctx();
      if (f.pause && f.resume) throw new CliError('give either --pause or --resume, not both', EXIT.usage);
      const current = inputOf(await c.client().getSchedule(id));
      show(c, await c.client().updateSchedule(applyFlags(current, { ...f, paused: f.pause }, argv)));
    });

  schedule
    .command('delete')
    .description('stop and remove a schedule (tasks it submitted stay)')
    .argument('<schedule_id>')
    .action(async (id: string) => {
      const c = ctx();
      await c.client().deleteSchedule(id);
      if (c.json) return c.jsonLine({ scheduleId: id, deleted: true });
      c.record({ schedule: id, deleted: true });
    });
}
