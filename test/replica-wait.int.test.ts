/**
 * redis.waitReplicas on one Redis with one replica (README "Redis Cluster": acknowledgements on
 * N replicas). With the replica following, each acknowledged write is on the replica when its
 * caller hears OK, and a call costs one WAIT however many tasks it carries. With the replica
 * stopped (SIGSTOP: connected, but acknowledging nothing), SubmitTask answers UNAVAILABLE naming
 * the shortfall after redis.waitTimeoutMs, never hangs, and many callers at once wait at most
 * about two timeouts (one WAIT in flight per connection, the rest joined into the next); once the
 * replica is back, the caller's retry with the same task id is answered from the same task.
 * Reads on the same front end answer at once while a WAIT is blocked (the writes and their WAITs
 * have connections of their own). The other changes (schedules, class limits and pauses,
 * CreateWorkflow, pools) are confirmed the same way, and answer UNAVAILABLE with the replica
 * stopped while their change is made on the master.
 */
import { status } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grpcError } from './helpers/grpc.js';
import { ADMIN_TOKEN, dashboardAccessToml } from './helpers/dashboard-access.js';
import { getText } from './helpers/http.js';
import { startRedis, type RedisServerHandle } from './helpers/redis-server.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';
import { TaskState } from '../src/client/orchestrator-client.js';

/**
 * Long enough that the reads of the "at once" test answer within one WAIT on a loaded machine
 * (the test checks they did not queue behind it by their answering first).
 */
const TIMEOUT_MS = 1_500;

let replica: RedisServerHandle;
let onReplica: Redis;
let sys: TestSystem;
beforeAll(async () => {
  const master = await startRedis();
  replica = await startRedis({ extraArgs: ['--replicaof', '127.0.0.1', String(master.port)] });
  onReplica = new Redis(replica.url, { maxRetriesPerRequest: 1 });
  onReplica.on('error', () => undefined);
  await waitFor(async () => /^master_link_status:up/m.test(await onReplica.info('replication')), {
    timeoutMs: 30_000,
    message: 'the replica never synced with its master',
  });
  sys = await startSystem({
    redis: master,
    toml: `${TEST_CONFIG_TOML}\n${dashboardAccessToml({ tokens: true, viewer: false })}\n[redis]\nwaitReplicas = 1\nwaitTimeoutMs = ${TIMEOUT_MS}\n`,
  });
  // For RetryTasks: a task that fails. Its writes are a pool's, never waited for.
  await sys.startPool({ classes: 'cpu_short:2' });
}, 90_000);
afterAll(async () => {
  onReplica?.disconnect();
  await sys?.stop();
  await replica?.stop();
});

/** WAIT calls the master has served since the last reset. */
async function waitCalls(): Promise<number> {
  return Number(/^cmdstat_wait:calls=(\d+)/m.exec(await sys.r.info('commandstats'))?.[1] ?? 0);
}

/** A process's state letter from /proc (T: stopped). */
function procState(pid: number): string {
  return /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] ?? '?';
}

describe('acknowledgements on one replica', { timeout: 60_000 }, () => {
  it('puts each acknowledged write on the replica before the reply, with one WAIT per call', async () => {
    await sys.r.config('RESETSTAT');
    const one = await sys.client.submitTask({ taskId: 'wait-one', taskClass: 'inproc', payload: { n: '1' }, delayMs: 3_600_000 });
    expect(one.created).toBe(true);
    // Read at once from the replica: the reply came only after it had the task.
    expect(await onReplica.exists(sys.keys.job('inproc', 'wait-one'))).toBe(1);
    expect(await onReplica.hget(sys.keys.taskIndex('wait-one'), 'wait-one')).toMatch(/^inproc\t/);
    expect(await waitCalls()).toBe(1);

    const batch = await sys.client.submitTasks(
      Array.from({ length: 200 }, (_, i) => ({ taskId: `wait-b${i}`, taskClass: 'inproc', payload: { i: String(i) } })),
    );
    expect(batch).toHaveLength(200);
    const onIt = await onReplica.pipeline(batch.map((r) => ['exists', sys.keys.job('inproc', r.taskId)])).exec();
    expect(onIt!.every(([, n]) => n === 1)).toBe(true);
    // One WAIT for the 200 tasks, not one each.
    expect(await waitCalls()).toBe(2);

    expect((await sys.client.cancelTask('wait-one', 'on the replica')).state).toBeDefined();
    expect(await onReplica.hget(sys.keys.cancel, 'wait-one')).toBe('on the replica');
    expect(await waitCalls()).toBe(3);

    await sys.client.createSchedule({ scheduleId: 'wait-sched', everyMs: 3_600_000, task: { taskClass: 'inproc', payload: { n: '1' } } });
    expect(await onReplica.hexists(sys.keys.schedules, 'wait-sched')).toBe(1);
    // The store's record and BullMQ's job scheduler, on two connections: one WAIT each.
    expect(await waitCalls()).toBe(5);

    await sys.client.createWorkflow({ name: 'wait-wf', steps: [{ stepId: 'a', task: { taskClass: 'inproc', payload: { n: '1' } } }] });
    expect(await onReplica.hexists(sys.keys.workflow('wait-wf'), '1')).toBe(1);
    expect(await waitCalls()).toBe(6);
    const run = await sys.client.startWorkflowRun({ name: 'wait-wf', inputs: {}, runId: 'wait-run' });
    expect(run.created).toBe(true);
    expect(await onReplica.exists(sys.keys.run('wait-run'))).toBe(1);
    // A read writes nothing and waits for nothing.
    await sys.client.getTaskStatus('wait-b0');
    expect(await waitCalls()).toBe(7);
  });

  it('waits for the replica after a retry that requeued, and not after one that changed nothing', async () => {
    const { taskId } = await sys.client.submitTask({
      taskId: 'wait-fails',
      taskClass: 'cpu_short',
      payload: { n: '1' },
      executor: { command: { argv: ['sh', '-c', 'exit 3'] } },
    });
    await waitFor(async () => (await sys.client.getTaskStatus(taskId)).state === TaskState.TASK_STATE_FAILED, {
      timeoutMs: 60_000,
      message: 'the failing task never failed',
    });
    await sys.r.config('RESETSTAT');
    const refused = await sys.client.retryTasks({ taskIds: ['wait-b1'] });
    expect(refused.retried).toEqual([]);
    expect(refused.errors[0]?.code).toBe('FAILED_PRECONDITION');
    expect(await waitCalls()).toBe(0);
    const o = await sys.client.retryTasks({ taskIds: [taskId] });
    expect(o.retried).toEqual([taskId]);
    expect(await waitCalls()).toBe(1);
    // Requeued on the replica too: its data records the attempts before this round.
    expect(JSON.parse((await onReplica.hget(sys.keys.job('cpu_short', taskId), 'data'))!)).toMatchObject({ attemptsBefore: 1 });
  });

  it('answers reads on the same front end at once while a write waits for a stopped replica', async () => {
    const pid = replica.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      await waitFor(() => procState(pid) === 'T', { timeoutMs: 5_000, message: 'the replica did not stop' });
      const t0 = performance.now();
      let answered = false;
      const submit = grpcError(sys.client.submitTask({ taskId: 'wait-blocked', taskClass: 'inproc', payload: { n: '1' }, delayMs: 3_600_000 })).then((e) => {
        answered = true;
        return { code: e.code, ms: performance.now() - t0 };
      });
      // The submission's WAIT is in flight: a client of the master is blocked in it.
      await waitFor(async () => /\bflags=\w*b\w*\b.*\bcmd=wait\b/.test(String(await sys.r.client('LIST'))), {
        timeoutMs: 5_000,
        message: 'no WAIT blocked on the master',
      });
      const reads: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r0 = performance.now();
        expect((await sys.client.getTaskStatus('wait-b2')).taskId).toBe('wait-b2');
        expect(await sys.client.getClassLimits('inproc')).toMatchObject({ taskClass: 'inproc' });
        reads.push(performance.now() - r0);
      }
      // Read while the submission still waited: they did not queue behind its WAIT.
      const readWhileWaiting = !answered;
      const w = await submit;
      console.log(
        `replica stopped: status and limits read in ${reads.map((ms) => Math.round(ms)).join(', ')} ms while a SubmitTask waited ${Math.round(w.ms)} ms`,
      );
      expect(w.code).toBe(status.UNAVAILABLE);
      expect(w.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      // Every read answered before the waiting submission did: none queued behind its WAIT
      // (a wall-clock bound on the reads would fail on a loaded machine, not on a queued read).
      expect(readWhileWaiting).toBe(true);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor(() => procState(pid) !== 'T', { timeoutMs: 5_000, message: 'the replica did not resume' });
    expect(await onReplica.ping()).toBe('PONG');
  });

  it('answers UNAVAILABLE naming the shortfall when the replica does not confirm in time, and the retry is safe', async () => {
    const pid = replica.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      await waitFor(() => procState(pid) === 'T', { timeoutMs: 5_000, message: 'the replica did not stop' });
      const t0 = performance.now();
      const err = await grpcError(sys.client.submitTask({ taskId: 'wait-short', taskClass: 'inproc', payload: { n: '1' }, delayMs: 3_600_000 }));
      const took = performance.now() - t0;
      expect(err.code).toBe(status.UNAVAILABLE);
      expect(err.details).toMatch(
        /replication shortfall: the write reached 0 of the 1 replica\(s\) redis\.waitReplicas asks for within redis\.waitTimeoutMs \(1500 ms\)/,
      );
      expect(err.details).toMatch(/may or may not survive a failover/);
      expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      expect(took).toBeLessThan(TIMEOUT_MS + 5_000);

      // Many callers at once: one WAIT in flight and one joined by the rest, so none waits much over two timeouts.
      const t1 = performance.now();
      const many = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          grpcError(sys.client.submitTask({ taskId: `wait-many-${i}`, taskClass: 'inproc', payload: { n: '1' }, delayMs: 3_600_000 })).then((e) => ({
            code: e.code,
            ms: performance.now() - t1,
          })),
        ),
      );
      expect(many.every((m) => m.code === status.UNAVAILABLE)).toBe(true);
      console.log(
        `replica stopped: one call UNAVAILABLE after ${Math.round(took)} ms, 20 at once after ${Math.round(Math.max(...many.map((m) => m.ms)))} ms at most (timeout ${TIMEOUT_MS} ms)`,
      );
      expect(Math.max(...many.map((m) => m.ms))).toBeLessThan(2 * TIMEOUT_MS + 5_000);
      expect(Math.max(...many.map((m) => m.ms))).toBeLessThan(20 * TIMEOUT_MS);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor(() => procState(pid) !== 'T', { timeoutMs: 5_000, message: 'the replica did not resume' });
    expect(await onReplica.ping()).toBe('PONG');

    // The write was applied on the master: the caller's retry finds the same task and is confirmed now.
    const again = await sys.client.submitTask({ taskId: 'wait-short', taskClass: 'inproc', payload: { n: '1' }, delayMs: 3_600_000 });
    expect(again.created).toBe(false);
    expect(await onReplica.exists(sys.keys.job('inproc', 'wait-short'))).toBe(1);
  });
});

describe('acknowledgements of the changes to schedules, classes, workflows, runs, pools and purges', { timeout: 60_000 }, () => {
  const meta = () => `${sys.keys.queuePrefixOf('cpu_long')}:cpu_long:meta`;
  const every = (scheduleId: string, everyMs: number) => ({ scheduleId, everyMs, task: { taskClass: 'inproc', payload: { n: '1' } } });

  it('puts each change on the replica before the reply', async () => {
    await sys.client.createSchedule(every('wait-s-ok', 3_600_000));
    await sys.r.config('RESETSTAT');
    await sys.client.updateSchedule(every('wait-s-ok', 7_200_000));
    expect(JSON.parse((await onReplica.hget(sys.keys.schedules, 'wait-s-ok'))!)).toMatchObject({ spec: { everyMs: 7_200_000 } });
    // The store's record and BullMQ's job scheduler, each on its connection: one WAIT each.
    expect(await waitCalls()).toBe(2);
    await sys.client.deleteSchedule('wait-s-ok');
    expect(await onReplica.hexists(sys.keys.schedules, 'wait-s-ok')).toBe(0);
    expect(await waitCalls()).toBe(4);

    await sys.client.setClassLimits('cpu_long', { rateLimitMax: 50, rateLimitDurationMs: 1_000 });
    expect(await onReplica.hget(meta(), 'max')).toBe('50');
    await sys.client.setClassLimits('cpu_long', { poolConcurrency: 3 });
    expect(await onReplica.hget(sys.keys.limits, 'cpu_long')).toBe('3');
    await sys.client.pauseClass('cpu_long');
    expect(await onReplica.hget(meta(), 'paused')).toBe('1');
    await sys.client.resumeClass('cpu_long');
    expect(await onReplica.hexists(meta(), 'paused')).toBe(0);
    expect(await waitCalls()).toBe(8);

    const pool = (await sys.client.listPools())[0]!;
    expect((await sys.client.drainPool(pool.poolId)).changed).toBe(true);
    expect(await onReplica.hget(sys.keys.poolDrain, pool.poolId)).toBe('stay');
    expect((await sys.client.resumePool(pool.poolId)).changed).toBe(true);
    expect(await onReplica.hexists(sys.keys.poolDrain, pool.poolId)).toBe(0);
    expect(await waitCalls()).toBe(10);
    await sys.client.setClassLimits('cpu_long', { rateLimitMax: 0, poolConcurrency: 0 });

    // A run whose step waits in cpu_long, which no pool serves: the cancel stops it.
    const long = { taskClass: 'cpu_long', payload: { n: '1' }, executor: { command: { argv: ['true'] } } };
    await sys.client.createWorkflow({ name: 'wait-wf-long', steps: [{ stepId: 'a', task: long }] });
    await sys.client.startWorkflowRun({ name: 'wait-wf-long', inputs: {}, runId: 'wait-run-long' });
    await sys.r.config('RESETSTAT');
    await sys.client.cancelWorkflowRun('wait-run-long', 'on the replica');
    expect(await onReplica.hget(sys.keys.run('wait-run-long'), 'stop')).toBe('cancel');
    expect(await waitCalls()).toBe(1);

    // The task the earlier test retried has failed again: purged, and gone from the replica too.
    await waitFor(async () => (await sys.client.getTaskStatus('wait-fails')).state === TaskState.TASK_STATE_FAILED, {
      timeoutMs: 30_000,
      message: 'the retried task never failed again',
    });
    expect(await sys.client.purgeTasks({ olderThanMs: 0, taskClasses: ['cpu_short'], states: [TaskState.TASK_STATE_FAILED] })).toBeGreaterThanOrEqual(1);
    expect(await onReplica.exists(sys.keys.job('cpu_short', 'wait-fails'))).toBe(0);
    expect(await waitCalls()).toBe(2);
  });

  it('answers UNAVAILABLE for each change while the replica is stopped, with the change applied on the master', async () => {
    await sys.client.createSchedule(every('wait-s-up', 3_600_000));
    await sys.client.createSchedule(every('wait-s-del', 3_600_000));
    const pool = (await sys.client.listPools())[0]!;
    // No pool serves cpu_long: queued until the dashboard's cancel.
    await sys.client.submitTask({ taskId: 'wait-dash-cancel', taskClass: 'cpu_long', payload: { n: '1' } });
    const pid = replica.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      await waitFor(() => procState(pid) === 'T', { timeoutMs: 5_000, message: 'the replica did not stop' });
      const changes: [string, () => Promise<unknown>][] = [
        ['UpdateSchedule', () => sys.client.updateSchedule(every('wait-s-up', 7_200_000))],
        ['DeleteSchedule', () => sys.client.deleteSchedule('wait-s-del')],
        ['SetClassLimits', () => sys.client.setClassLimits('cpu_long', { globalConcurrency: 7 })],
        ['PauseClass', () => sys.client.pauseClass('cpu_long')],
        [
          'CreateWorkflow',
          () => sys.client.createWorkflow({ name: 'wait-wf-down', steps: [{ stepId: 'a', task: { taskClass: 'inproc', payload: { n: '1' } } }] }),
        ],
        ['DrainPool', () => sys.client.drainPool(pool.poolId)],
      ];
      for (const [name, call] of changes) {
        const err = await grpcError(call());
        expect({ name, code: err.code }).toEqual({ name, code: status.UNAVAILABLE });
        expect(err.details).toMatch(/replication shortfall/);
      }
      // The dashboard's actions wait as the RPCs do: 503 naming the shortfall (the drain repeats
      // DrainPool's, so it changes nothing and still waits).
      const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
      const actions: [string, string, string | undefined][] = [
        ['dashboard cancel', '/admin/api/tasks/wait-dash-cancel/cancel', undefined],
        ['dashboard drain', '/admin/api/pools/drain', JSON.stringify({ poolId: pool.poolId })],
      ];
      for (const [name, path, body] of actions) {
        const r = await getText(`${sys.httpUrl}${path}`, { method: 'POST', headers: admin, body });
        expect({ name, status: r.status }).toEqual({ name, status: 503 });
        expect(r.body).toMatch(/replication shortfall/);
      }
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor(() => procState(pid) !== 'T', { timeoutMs: 5_000, message: 'the replica did not resume' });
    expect(await onReplica.ping()).toBe('PONG');

    // Applied on the master all the same (UNAVAILABLE says: may or may not survive a failover).
    expect((await sys.client.getSchedule('wait-s-up')).spec?.everyMs).toBe(7_200_000);
    expect(await grpcError(sys.client.getSchedule('wait-s-del'))).toMatchObject({ code: status.NOT_FOUND });
    expect(await sys.client.getClassLimits('cpu_long')).toMatchObject({ globalConcurrency: 7, paused: true });
    expect((await sys.client.getTaskStatus('wait-dash-cancel')).state).toBe(TaskState.TASK_STATE_CANCELLED);
    // With the replica back, the same changes are confirmed.
    await sys.r.config('RESETSTAT');
    await sys.client.updateSchedule(every('wait-s-up', 7_200_000));
    expect(JSON.parse((await onReplica.hget(sys.keys.schedules, 'wait-s-up'))!)).toMatchObject({ spec: { everyMs: 7_200_000 } });
    await sys.client.resumeClass('cpu_long');
    await sys.client.setClassLimits('cpu_long', { globalConcurrency: 0 });
    expect(await onReplica.hexists(meta(), 'paused')).toBe(0);
    const wf = await sys.client.createWorkflow({ name: 'wait-wf-down', steps: [{ stepId: 'a', task: { taskClass: 'inproc', payload: { n: '1' } } }] });
    expect(await onReplica.hexists(sys.keys.workflow('wait-wf-down'), String(wf.version))).toBe(1);
    expect(await waitCalls()).toBe(5);
    // A repeat that finds its change made still waits for it: the drain, and a purge with nothing left.
    expect((await sys.client.drainPool(pool.poolId)).changed).toBe(false);
    expect(await onReplica.hget(sys.keys.poolDrain, pool.poolId)).toBe('stay');
    expect(await waitCalls()).toBe(6);
    expect((await sys.client.resumePool(pool.poolId)).changed).toBe(true);
    expect(await sys.client.purgeTasks({ olderThanMs: 3_600_000, taskClasses: ['cpu_long'] })).toBe(0);
    expect(await waitCalls()).toBe(8);
  });
});
