/**
 * Several pools on one class, pools killed with SIGKILL mid-task, and graceful SIGTERM. The
 * test classes use a 2 s lock and a 1 s stall check (test/helpers/system.ts), so a dead pool's
 * task is recovered in a few seconds.
 *
 * Each test has a system of its own. The 300-task test runs alone, first: run beside the others,
 * its pools starved theirs of CPU on a loaded 2-core machine, past their 2 s locks and start-up
 * waits. The one-task tests then run concurrently, so their waits (a stall check, a grace
 * period, a whole rerun of a 4 or 6 s task) overlap rather than add up.
 */
import { describe, expect, test } from 'vitest';
import { TaskState } from '../src/client/orchestrator-client.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
// Each test gets a system of its own from its context.
import { systemTest as it } from './helpers/system-test.js';
import { waitFor } from './helpers/wait.js';

/**
 * The test config with a 1.5 s pool shutdown grace instead of 5 s: the hand-back test waits it
 * out. A fixture of its own: `it.extend({ systemToml })` does not reach the system fixture,
 * whose dependencies vitest binds where it is defined, and left the grace at 5 s.
 */
const shortGrace = test.extend<{ graceToml: string; sys: TestSystem }>({
  graceToml: TEST_CONFIG_TOML.replace('shutdownGraceMs = 5000', 'shutdownGraceMs = 1500'),
  sys: async ({ graceToml }, use) => {
    const sys = await startSystem({ toml: graceToml });
    try {
      await use(sys);
    } finally {
      await sys.stop();
    }
  },
});

async function eventsOf(sys: TestSystem, taskId: string): Promise<string[][]> {
  return (await sys.r.xrange(sys.keys.events, '-', '+')).map(([, f]) => f).filter((f) => f[3] === taskId);
}

describe('pools', () => {
  it('three pools share a class and run every task exactly once', { timeout: 180_000 }, async ({ sys }) => {
    const pools = await Promise.all([1, 2, 3].map(() => sys.startPool({ classes: 'cpu_short:4' })));
    const ids = Array.from({ length: 300 }, (_, i) => `shared-${i}`);
    await sys.client.submitTasks(ids.map((taskId) => ({ taskId, taskClass: 'cpu_short', payload: { ms: '5' }, executor: { handler: 'sleep' } })));
    const byPool = new Map<string, number>();
    for await (const r of sys.client.streamTaskResults({ taskIds: ids, closeWhenDone: true })) {
      expect(r.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
      byPool.set(r.workerId, (byPool.get(r.workerId) ?? 0) + 1);
    }
    const events = (await sys.r.xrange(sys.keys.events, '-', '+')).map(([, f]) => f).filter((f) => f[3]!.startsWith('shared-'));
    const starts = events.filter((f) => f[1] === 'started');
    // A task runs again only when a stall was observed (a pool starved of CPU past its 2 s lock on
    // a loaded machine): at least once, never silently twice.
    const stalls = events.filter((f) => f[1] === 'stalled').length;
    expect(new Set(starts.map((f) => f[3])).size).toBe(300);
    expect(starts).toHaveLength(300 + stalls);
    const results = (await sys.r.xrange(sys.keys.results, '-', '+')).map(([, f]) => f).filter((f) => f[1]!.startsWith('shared-'));
    expect(new Set(results.map((f) => `${f[1]}/${f[5]}`)).size).toBe(300);
    expect(results.length).toBeLessThanOrEqual(300 + stalls);
    expect([...byPool.keys()].sort()).toEqual(pools.map((p) => p.id).sort());
  });

  describe('one task each', { concurrent: true }, () => {
    it('a task whose pool is killed with SIGKILL completes on another pool with one final result', { timeout: 180_000 }, async ({ sys }) => {
      const doomed = await sys.startPool({ classes: 'cpu_short:1' });
      const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { ms: '1500' }, executor: { handler: 'sleep' } });
      // Mid-task: the pool has announced the start (BullMQ marks the job active a moment before).
      await waitFor(async () => (await eventsOf(sys, taskId)).some((f) => f[1] === 'started' && f.includes(doomed.id)));
      doomed.kill('SIGKILL');
      await doomed.exited;
      const survivor = await sys.startPool({ classes: 'cpu_short:1' });
      const r = await sys.client.waitForResult(taskId);
      expect(r.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
      expect(r.workerId).toBe(survivor.id);
      await waitFor(async () => (await eventsOf(sys, taskId)).some((f) => f[1] === 'stalled'));
      const results = (await sys.r.xrange(sys.keys.results, '-', '+')).filter(([, f]) => f[1] === taskId);
      expect(results).toHaveLength(1);
      // The rerun repeats attempt 1: the dead pool's attempt never finished.
      expect((await eventsOf(sys, taskId)).filter((f) => f[1] === 'started').map((f) => f[7])).toEqual(['1', '1']);
    });

    it('an attempt whose pool lost the task to the stall checker writes no outcome; the rerun writes the one result', { timeout: 180_000 }, async ({ sys }) => {
      const first = await sys.startPool({ classes: 'cpu_short:1' });
      // Idle and waiting before the lock goes, so it is the one free to take the rerun.
      const second = await sys.startPool({ classes: 'cpu_short:1' });
      const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { ms: '4000' }, executor: { handler: 'sleep' }, maxAttempts: 1 });
      await waitFor(async () => (await eventsOf(sys, taskId)).some((f) => f[1] === 'started'));
      const firstRun = (await eventsOf(sys, taskId)).find((f) => f[1] === 'started')!;
      const [running, idle] = firstRun.includes(first.id) ? [first, second] : [second, first];
      // What a pool starved past its lock looks like to the others: the lock is gone (deleted while
      // the run still goes). A stall check queues the task again, and the idle pool runs it while
      // the first run still goes.
      expect(await sys.r.del(`${sys.keys.queuePrefix}:cpu_short:${taskId}:lock`)).toBe(1);
      const r = await sys.client.waitForResult(taskId);
      expect(r.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
      // Normally the idle pool's; on a machine so loaded that the stall check came only after the
      // first run's refused finish, the first run's pool may have been the free one.
      expect([idle.id, running.id]).toContain(r.workerId);
      // The first run learnt it lost the task: its lock renewal was refused and it was stopped, or
      // (when it ended first) its finish was refused by BullMQ, and with it the outcome it carried.
      await waitFor(async () => /(Missing lock|Lock mismatch) for job|its task is no longer its own/.test(running.output()), {
        timeoutMs: 30_000,
        message: 'the first pool never saw it lost the task',
      }).catch((err: Error) => {
        throw new Error(`${err.message}; its output:\n${running.output().slice(-4000)}`);
      });
      expect((await eventsOf(sys, taskId)).filter((f) => f[1] === 'started').length).toBeGreaterThanOrEqual(2);
      const results = (await sys.r.xrange(sys.keys.results, '-', '+')).filter(([, f]) => f[1] === taskId);
      expect(results).toHaveLength(1);
      expect((await eventsOf(sys, taskId)).filter((f) => f[1] === 'succeeded')).toHaveLength(1);
      expect(await sys.r.hget(sys.keys.counters, 'succeeded:cpu_short')).toBe('1');
      expect((await sys.client.getTaskStatus(taskId)).state).toBe(TaskState.TASK_STATE_SUCCEEDED);
    });

    it('SIGTERM lets a running task finish, then the pool exits 0', { timeout: 180_000 }, async ({ sys }) => {
      const pool = await sys.startPool({ classes: 'cpu_short:2' });
      const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { ms: '800' }, executor: { handler: 'sleep' } });
      await waitFor(async () => (await sys.client.getTaskStatus(taskId)).state === TaskState.TASK_STATE_RUNNING);
      pool.kill('SIGTERM');
      expect(await pool.exited).toBe(0);
      expect((await sys.client.getTaskStatus(taskId)).state).toBe(TaskState.TASK_STATE_SUCCEEDED);
      expect(await sys.r.zscore(sys.keys.pools, pool.id)).toBeNull();
    });

    shortGrace(
      'SIGTERM hands back a task that outlives the grace period; it completes elsewhere without using an attempt',
      { timeout: 180_000 },
      async ({ sys }) => {
        expect(sys.config.pool.shutdownGraceMs).toBe(1500);
        const pool = await sys.startPool({ classes: 'cpu_short:1' });
        // 4.5 s past the 1.5 s grace (the 5 s grace had 3 s), for a slow SIGTERM on a loaded machine:
        // the task still runs when the grace ends.
        const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { ms: '6000' }, executor: { handler: 'sleep' }, maxAttempts: 1 });
        await waitFor(async () => (await sys.client.getTaskStatus(taskId)).state === TaskState.TASK_STATE_RUNNING);
        pool.kill('SIGTERM');
        expect(await pool.exited).toBe(0);
        const st = await sys.client.getTaskStatus(taskId);
        expect([TaskState.TASK_STATE_QUEUED, TaskState.TASK_STATE_SCHEDULED]).toContain(st.state);
        expect(st.attemptsMade).toBe(0);
        await sys.startPool({ classes: 'cpu_short:1' });
        const r = await sys.client.waitForResult(taskId, { timeoutMs: 30_000 });
        expect(r.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
      },
    );
  });
});
