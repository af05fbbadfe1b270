/**
 * Schedules against a real Redis, real orchestrators and a real pool: one task per tick with two
 * orchestrators firing, cron read in a time zone, update, delete, a restart that lost BullMQ's
 * scheduler keys, bad input refused before anything is stored, and orchctl's schedule commands.
 *
 * Which tasks a schedule fired is read from the events stream: each fired task's submitted event
 * carries schedule_id (a public field, src/store/codecs/feed-format.ts).
 *
 * Every test has a system (Redis, orchestrator, pool) of its own and the tests run concurrently:
 * most of their time is waiting for ticks a second or more apart, which then overlaps.
 */
import { status } from '@grpc/grpc-js';
import { Queue } from 'bullmq';
import { afterEach, describe, expect } from 'vitest';
import { OrchestratorClient, TaskState, type ScheduleInput } from '../src/client/orchestrator-client.js';
import { createLogger } from '../src/logging/logger.js';
import { Orchestrator } from '../src/orchestrator.js';
import { fieldOf, grpcError } from './helpers/grpc.js';
import { startBareSystem, type BareSystem } from './helpers/system.js';
// A test that takes `sys` from its context gets a system of its own (see the header).
import { systemTest as it } from './helpers/system-test.js';
import { orchctl as runOrchctl } from './helpers/orchctl.js';
import { waitFor } from './helpers/wait.js';

const task = (payload: Record<string, string> = { from: 'schedule' }) => ({ taskClass: 'inproc', payload });

/** The ids of the tasks schedule `id` fired so far, in submission order. */
async function firedBy(sys: BareSystem, id: string): Promise<string[]> {
  const out: string[] = [];
  for (const [, f] of await sys.r.xrange(sys.keys.events, '-', '+')) {
    const m = new Map<string, string>();
    for (let i = 0; i + 1 < f.length; i += 2) m.set(f[i]!, f[i + 1]!);
    if (m.get('type') === 'submitted' && m.get('schedule_id') === id) out.push(m.get('task_id')!);
  }
  return out;
}

/** Waits until schedule `id` has fired at least `n` tasks; returns them all. */
async function waitFired(sys: BareSystem, id: string, n: number, timeoutMs = 30_000): Promise<string[]> {
  let ids: string[] = [];
  await waitFor(async () => (ids = await firedBy(sys, id)).length >= n, { timeoutMs, message: `schedule ${id} did not fire ${n} tasks` });
  return ids;
}

const tickOf = (taskId: string) => Number(taskId.slice(taskId.lastIndexOf('.') + 1));

async function startInProcess(sys: BareSystem, name: string): Promise<{ orchestrator: Orchestrator; client: OrchestratorClient; close(): Promise<void> }> {
  const orchestrator = new Orchestrator({ config: sys.config, redisUrl: sys.redis.url, logger: createLogger('warn', { process: name }) });
  await orchestrator.start();
  const client = new OrchestratorClient(`127.0.0.1:${orchestrator.grpcPort}`, { defaultDeadlineMs: 20_000 });
  return {
    orchestrator,
    client,
    async close() {
      client.close();
      await orchestrator.close(1_000);
    },
  };
}

describe('schedules', { concurrent: true }, () => {
  it('submits exactly one task per tick with two orchestrators firing, each carrying the schedule id', { timeout: 120_000 }, async ({ sys }) => {
    // This process's orchestrator and a second one as its own process, both running the runner.
    const second = await sys.startOrchestrator();
    try {
      await sys.startPool({ classes: 'inproc:4' });
      const created = await sys.client.createSchedule({ scheduleId: 'every-second', everyMs: 1_000, task: task() });
      expect(created.spec).toMatchObject({ scheduleId: 'every-second', everyMs: 1_000, cron: '', paused: false });
      expect(created.nextRunAtMs).toBeGreaterThan(0);
      await waitFired(sys, 'every-second', 4);
      await second.client.deleteSchedule('every-second');
      // Ticks already taken when the delete came may still submit: read once none is in flight.
      await waitFor(async () => (await sys.r.llen('{orq}:q:orq-schedules:active')) === 0);
      const ids = await firedBy(sys, 'every-second');

      expect(new Set(ids).size).toBe(ids.length);
      const ticks = ids.map(tickOf);
      expect(new Set(ticks).size).toBe(ticks.length);
      for (const [i, id] of ids.entries()) {
        expect(id).toBe(`every-second.${ticks[i]}`);
        // An interval ticks a whole number of intervals after its first tick.
        expect((ticks[i]! - ticks[0]!) % 1_000).toBe(0);
      }
      for (const id of ids) {
        const r = await sys.client.waitForResult(id, { timeoutMs: 20_000 });
        expect([r.state, r.scheduleId]).toEqual([TaskState.TASK_STATE_SUCCEEDED, 'every-second']);
        const s = await second.client.getTaskStatus(id);
        expect(s.scheduleId).toBe('every-second');
      }
      // Its events in the gRPC feed name the schedule too, from submitted to succeeded.
      const seen: string[] = [];
      for await (const e of sys.client.streamEvents({ taskIds: [ids[0]!], cursor: '0' })) {
        expect(e.scheduleId).toBe('every-second');
        seen.push(e.type);
        if (e.type === 'succeeded') break;
      }
      expect(seen).toEqual(['submitted', 'started', 'succeeded']);

      // Streams filtered by the schedule carry its tasks and nothing else.
      const other = await sys.client.submitTask({ taskClass: 'inproc', payload: { not: 'scheduled' } });
      await sys.client.waitForResult(other.taskId);
      const results = new Set<string>();
      for await (const r of sys.client.streamTaskResults({ scheduleId: 'every-second' })) {
        expect(r.scheduleId).toBe('every-second');
        results.add(r.taskId);
        if (results.size === ids.length) break;
      }
      expect([...results].sort()).toEqual([...ids].sort());
      const submitted: string[] = [];
      for await (const e of sys.client.streamEvents({ scheduleId: 'every-second', types: ['submitted'], cursor: '0' })) {
        submitted.push(e.taskId);
        if (submitted.length === ids.length) break;
      }
      expect(submitted).toEqual(ids);
    } finally {
      second.kill();
      await second.exited;
    }
  });

  it('submits nothing new when a tick job runs again, even after its task was purged', { timeout: 120_000 }, async ({ sys }) => {
    await sys.startPool({ classes: 'inproc:2' });
    // Hourly: no second tick comes by itself during the test.
    await sys.client.createSchedule({ scheduleId: 'replayed', everyMs: 3_600_000, task: task() });
    const [first] = await waitFired(sys, 'replayed', 1);
    // A connection of its own, closed here: BullMQ leaves a connection it was given open.
    const connection = sys.r.duplicate();
    const queue = new Queue('orq-schedules', { connection, prefix: '{orq}:q' });
    try {
      const jobId = `repeat:replayed:${tickOf(first!)}`;
      const done = (await waitFor(async () => (await queue.getJob(jobId))?.finishedOn)) ?? 0;
      // As BullMQ does when a tick job is retried or taken over from a dead orchestrator.
      await (await queue.getJob(jobId))!.retry('completed');
      await waitFor(async () => ((await queue.getJob(jobId))?.finishedOn ?? 0) > done && (await queue.getJobState(jobId)) === 'completed');
      expect((await queue.getJob(jobId))!.returnvalue).toBe(first);
      expect(await firedBy(sys, 'replayed')).toEqual([first]);

      // Once the task is gone (retention or a purge), the tick itself still remembers it fired.
      await waitFor(async () => (await sys.client.purgeTasks({ olderThanMs: 0, taskClasses: ['inproc'] })) > 0);
      expect((await grpcError(sys.client.getTaskStatus(first!))).code).toBe(status.NOT_FOUND);
      const again = (await queue.getJob(jobId))!.finishedOn!;
      await (await queue.getJob(jobId))!.retry('completed');
      await waitFor(async () => ((await queue.getJob(jobId))?.finishedOn ?? 0) > again && (await queue.getJobState(jobId)) === 'completed');
      expect(await firedBy(sys, 'replayed')).toEqual([first]);
      expect((await grpcError(sys.client.getTaskStatus(first!))).code).toBe(status.NOT_FOUND);
      expect((await sys.client.getSchedule('replayed')).lastTaskId).toBe(first);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });

  it('reads a cron expression in its time zone and fires a seconds cron', { timeout: 120_000 }, async ({ sys }) => {
    const nine = await sys.client.createSchedule({ scheduleId: 'berlin-nine', cron: '0 0 9 * * *', tz: 'Europe/Berlin', task: task() });
    expect(nine.nextRunAtMs).toBeGreaterThan(0);
    const local = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    expect(local.format(new Date(nine.nextRunAtMs))).toBe('09:00:00');
    // The same schedule in UTC fires at 09:00 UTC instead.
    const utc = await sys.client.createSchedule({ scheduleId: 'utc-nine', cron: '0 0 9 * * *', task: task() });
    expect(new Date(utc.nextRunAtMs).toISOString()).toMatch(/T09:00:00\.000Z$/);

    await sys.startPool({ classes: 'inproc:2' });
    const secs = await sys.client.createSchedule({ scheduleId: 'berlin-seconds', cron: '* * * * * *', tz: 'Europe/Berlin', task: task() });
    expect(secs.spec).toMatchObject({ cron: '* * * * * *', tz: 'Europe/Berlin', everyMs: 0 });
    const [first] = await waitFired(sys, 'berlin-seconds', 1);
    expect(tickOf(first!) % 1_000).toBe(0);
    await sys.client.waitForResult(first!, { timeoutMs: 20_000 });
    const got = await sys.client.getSchedule('berlin-seconds');
    expect(got.lastRunAtMs).toBeGreaterThan(0);
    expect(got.lastTaskId).toMatch(/^berlin-seconds\.\d+$/);
    expect(got.nextRunAtMs).toBeGreaterThan(0);
    expect((await sys.client.listSchedules()).map((s) => s.spec!.scheduleId)).toEqual(['berlin-nine', 'berlin-seconds', 'utc-nine']);
  });

  it('applies an update from the next tick on: new timing and a new task', { timeout: 120_000 }, async ({ sys }) => {
    await sys.startPool({ classes: 'inproc:2' });
    const base: ScheduleInput = { scheduleId: 'changing', everyMs: 1_000, task: task({ v: '1' }) };
    const created = await sys.client.createSchedule(base);
    await waitFired(sys, 'changing', 1);

    const updated = await sys.client.updateSchedule({ scheduleId: 'changing', cron: '*/2 * * * * *', task: task({ v: '2' }) });
    expect(updated.spec).toMatchObject({ cron: '*/2 * * * * *', everyMs: 0 });
    expect(updated.spec!.task!.payload).toEqual({ v: '2' });
    expect(updated.createdAtMs).toBe(created.createdAtMs);
    expect(updated.updatedAtMs).toBeGreaterThanOrEqual(created.updatedAtMs);
    expect(updated.nextRunAtMs % 2_000).toBe(0);

    // Tasks from the new spec: every other second, payload v=2.
    let v2: string[] = [];
    await waitFor(
      async () => {
        v2 = [];
        for (const id of await firedBy(sys, 'changing')) {
          const r = await sys.client.waitForResult(id, { timeoutMs: 20_000 });
          if ((JSON.parse(r.resultJson) as { v: string }).v === '2') v2.push(id);
        }
        return v2.length >= 3;
      },
      { timeoutMs: 30_000, intervalMs: 250, message: 'no tasks from the updated spec' },
    );
    // The runner reads the spec at each tick, so a tick of the old timing already on its way when
    // the update landed fires with the new task: only the first may be off the new timing.
    for (const id of v2.slice(1)) expect(tickOf(id) % 2_000).toBe(0);
    expect(await sys.client.getSchedule('changing')).toMatchObject({ spec: { cron: '*/2 * * * * *' } });
  });

  it('stops firing once deleted', { timeout: 120_000 }, async ({ sys }) => {
    await sys.startPool({ classes: 'inproc:2' });
    await sys.client.createSchedule({ scheduleId: 'doomed', everyMs: 1_000, task: task() });
    // A second schedule is the clock of the observation window below.
    await sys.client.createSchedule({ scheduleId: 'clock', everyMs: 1_000, task: task() });
    await waitFired(sys, 'doomed', 1);
    await sys.client.deleteSchedule('doomed');

    const notFound = await grpcError(sys.client.getSchedule('doomed'));
    expect([notFound.code, fieldOf(notFound)]).toEqual([status.NOT_FOUND, 'schedule_id']);
    expect((await sys.client.listSchedules()).map((s) => s.spec!.scheduleId)).toEqual(['clock']);
    // A tick taken just before the delete may still submit; after one more tick of the clock none is in flight.
    const clock0 = (await firedBy(sys, 'clock')).length;
    await waitFired(sys, 'clock', clock0 + 1);
    const after = (await firedBy(sys, 'doomed')).length;
    await waitFired(sys, 'clock', clock0 + 4);
    expect((await firedBy(sys, 'doomed')).length).toBe(after);
    // Its job scheduler is gone too, not only the stored spec.
    expect(await sys.r.exists('{orq}:q:orq-schedules:repeat:doomed')).toBe(0);
  });

  it('refuses bad input with INVALID_ARGUMENT naming the field, storing nothing', { timeout: 120_000 }, async ({ sys }) => {
    const cases: [ScheduleInput, string][] = [
      [{ scheduleId: 's', cron: 'every tuesday', task: task() }, 'schedule.cron'],
      [{ scheduleId: 's', cron: '61 * * * *', task: task() }, 'schedule.cron'],
      [{ scheduleId: 's', cron: '0 0 30 2 *', task: task() }, 'schedule.cron'],
      [{ scheduleId: 's', cron: '* * * * *', tz: 'Mars/Olympus_Mons', task: task() }, 'schedule.tz'],
      [{ scheduleId: 's', everyMs: -1_000, task: task() }, 'schedule.every_ms'],
      [{ scheduleId: 's', everyMs: 0, task: task() }, 'schedule.every_ms'],
      [{ scheduleId: 's', task: task() }, 'schedule.every_ms'],
      [{ scheduleId: 's', cron: '* * * * *', everyMs: 1_000, task: task() }, 'schedule.cron'],
      [{ scheduleId: 's', everyMs: 1_000, tz: 'Europe/Berlin', task: task() }, 'schedule.tz'],
      [{ scheduleId: 's', everyMs: 1_000, task: { taskClass: 'no_such_class', payload: { a: '1' } } }, 'schedule.task.task_class'],
      [{ scheduleId: 's', everyMs: 1_000, task: { taskClass: 'inproc', payload: {} } }, 'schedule.task.payload'],
      [{ scheduleId: 's', everyMs: 1_000, task: { ...task(), taskId: 'fixed' } as ScheduleInput['task'] }, 'schedule.task.task_id'],
      [{ scheduleId: 'has:colon', everyMs: 1_000, task: task() }, 'schedule.schedule_id'],
      [{ scheduleId: '12345', everyMs: 1_000, task: task() }, 'schedule.schedule_id'],
      [{ scheduleId: 's', everyMs: 1_000, endAtMs: 1_000, task: task() }, 'schedule.end_at_ms'],
    ];
    for (const [input, field] of cases) {
      const err = await grpcError(sys.client.createSchedule(input));
      expect([err.code, fieldOf(err), input]).toEqual([status.INVALID_ARGUMENT, field, input]);
    }
    expect(await sys.client.listSchedules()).toEqual([]);
    expect(await sys.r.hlen(sys.keys.schedules)).toBe(0);
    expect(await sys.r.keys('{orq}:q:orq-schedules:repeat*')).toEqual([]);

    // An invalid update leaves the stored schedule as it was.
    await sys.client.createSchedule({ scheduleId: 'kept', cron: '0 0 * * * *', task: task() });
    const bad = await grpcError(sys.client.updateSchedule({ scheduleId: 'kept', cron: '0 0 * * * * * *', task: task() }));
    expect([bad.code, fieldOf(bad)]).toEqual([status.INVALID_ARGUMENT, 'schedule.cron']);
    expect((await sys.client.getSchedule('kept')).spec!.cron).toBe('0 0 * * * *');
  });

  it('is idempotent on create with the same spec; ALREADY_EXISTS or NOT_FOUND otherwise', { timeout: 120_000 }, async ({ sys }) => {
    const spec: ScheduleInput = { scheduleId: 'once', cron: '0 0 * * * *', tz: 'Europe/Berlin', task: task({ b: '2', a: '1' }) };
    const first = await sys.client.createSchedule(spec);
    const again = await sys.client.createSchedule({ ...spec, task: task({ a: '1', b: '2' }) });
    expect(again.createdAtMs).toBe(first.createdAtMs);
    const clash = await grpcError(sys.client.createSchedule({ ...spec, cron: '0 30 * * * *' }));
    expect([clash.code, fieldOf(clash)]).toEqual([status.ALREADY_EXISTS, 'schedule.schedule_id']);
    for (const [call, field] of [
      [() => sys.client.getSchedule('nope'), 'schedule_id'],
      [() => sys.client.deleteSchedule('nope'), 'schedule_id'],
      [() => sys.client.updateSchedule({ scheduleId: 'nope', everyMs: 1_000, task: task() }), 'schedule.schedule_id'],
    ] as const) {
      const err = await grpcError(call());
      expect([err.code, fieldOf(err)]).toEqual([status.NOT_FOUND, field]);
    }
    expect((await sys.client.getMetrics()).metrics.schedules).toBe(1);
    // Paused: stored, no timer; resumed by an update.
    const paused = await sys.client.updateSchedule({ ...spec, paused: true });
    expect([paused.spec!.paused, paused.nextRunAtMs]).toEqual([true, 0]);
    const resumed = await sys.client.updateSchedule({ ...spec, paused: false });
    expect(resumed.nextRunAtMs).toBeGreaterThan(0);
  });
});

describe('schedules across restarts', { concurrent: true }, () => {
  let bare: BareSystem;
  afterEach(async () => bare?.stop());

  it('keeps firing after every orchestrator restarted, even when BullMQ lost its scheduler keys', { timeout: 120_000 }, async () => {
    bare = await startBareSystem();
    await bare.startPool({ classes: 'inproc:2' });
    const a = await startInProcess(bare, 'test-orchestrator-a');
    await a.client.createSchedule({ scheduleId: 'durable', everyMs: 1_000, task: task() });
    const before = await waitFired(bare, 'durable', 1);
    await a.close();
    // Everything BullMQ keeps for the schedule queue goes: only our stored schedule remains.
    const lost = await bare.r.keys('{orq}:q:orq-schedules:*');
    expect(lost.length).toBeGreaterThan(0);
    await bare.r.del(...lost);

    const b = await startInProcess(bare, 'test-orchestrator-b');
    try {
      const lastBefore = Math.max(...(await firedBy(bare, 'durable')).map(tickOf));
      const got = await b.client.getSchedule('durable');
      expect(got.nextRunAtMs).toBeGreaterThan(0);
      const all = await waitFired(bare, 'durable', before.length + 2);
      const later = all.map(tickOf).filter((t) => t > lastBefore);
      expect(later.length).toBeGreaterThan(0);
      expect(new Set(all).size).toBe(all.length);
      await b.client.waitForResult(`durable.${later[0]}`, { timeoutMs: 20_000 });
    } finally {
      await b.close();
    }
  });
});

describe('orchctl schedule', { concurrent: true }, () => {
  it('creates, lists, shows, updates and deletes a schedule', { timeout: 120_000 }, async ({ sys }) => {
    const orchctl = (args: string[]) => runOrchctl(['--addr', sys.addr, ...args]);
    const created = await orchctl([
      '--json',
      'schedule',
      'create',
      'nightly',
      '--cron',
      '0 30 2 * * *',
      '--tz',
      'Europe/Berlin',
      '-c',
      'inproc',
      '-p',
      'job=report',
    ]);
    expect(created.code, created.err).toBe(0);
    expect(JSON.parse(created.out)).toMatchObject({
      spec: { scheduleId: 'nightly', cron: '0 30 2 * * *', tz: 'Europe/Berlin', task: { taskClass: 'inproc', payload: { job: 'report' } } },
    });

    const list = await orchctl(['--json', 'schedule', 'list']);
    expect(list.code).toBe(0);
    const rows = (JSON.parse(list.out) as { schedules: { spec: { scheduleId: string }; nextRunAtMs: number }[] }).schedules;
    expect(rows.map((r) => r.spec.scheduleId)).toEqual(['nightly']);
    expect(new Date(rows[0]!.nextRunAtMs).toISOString()).toMatch(/T\d\d:30:00\.000Z$/);

    const table = await orchctl(['schedule', 'list']);
    expect(table.out).toMatch(/^SCHEDULE\s+WHEN\s+/);
    expect(table.out).toContain('cron 0 30 2 * * * (Europe/Berlin)');

    const updated = await orchctl(['--json', 'schedule', 'update', 'nightly', '--every-ms', '60000']);
    expect(updated.code, updated.err).toBe(0);
    // Flags not given keep their values; the timing switched from cron to an interval.
    expect(JSON.parse(updated.out)).toMatchObject({
      spec: { scheduleId: 'nightly', cron: null, everyMs: 60_000, task: { taskClass: 'inproc', payload: { job: 'report' } } },
    });

    const got = await orchctl(['schedule', 'get', 'nightly']);
    expect(got.out).toMatch(/when\s+every 60000 ms/);

    // A fired task shows its schedule in `orchctl status`.
    await sys.client.createSchedule({ scheduleId: 'cli-fired', everyMs: 3_600_000, task: task() });
    const [fired] = await waitFired(sys, 'cli-fired', 1);
    const st = await orchctl(['--json', 'status', fired!]);
    expect(JSON.parse(st.out)).toMatchObject({ taskId: fired, scheduleId: 'cli-fired' });
    await sys.client.deleteSchedule('cli-fired');

    const bad = await orchctl(['schedule', 'create', 'broken', '--cron', 'not a cron', '-c', 'inproc', '-p', 'a=1']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('schedule.cron');

    expect((await orchctl(['--json', 'schedule', 'delete', 'nightly'])).code).toBe(0);
    expect(JSON.parse((await orchctl(['--json', 'schedule', 'list'])).out)).toEqual({ schedules: [] });
    expect((await orchctl(['schedule', 'delete', 'nightly'])).code).toBe(3);
  });
});
