/**
 * A pool SIGKILLed while its Slurm job runs: BullMQ's stall recovery runs the attempt again on
 * another pool, which must re-attach to the same job rather than submit a second one. The job
 * script appends a line to a marker file each time it starts, so a second submission would
 * show; it then waits for a gate file, so the job is still running when its pool dies.
 *
 * Each test has a system of its own, and the two pool-death tests run concurrently (one Slurm
 * job each, on the node's two CPUs), so their pool start-ups and stall checks overlap.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { TaskState } from '../src/client/orchestrator-client.js';
import { slurmJobName } from '../workers/executors/slurm.js';
import { slurm, slurmForTests, slurmSuiteToml, squeueState, storedJobId } from './helpers/slurm.js';
import { startSystem, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

const available = await slurmForTests('slurm chaos suite');
let systems = 0;

/**
 * A test with a system of its own and the spool dir of its jobs; `maxStalledCount` is its
 * class's. (A function, not an overridable fixture: a fixture's dependencies are bound when it
 * is defined, so `.extend({ maxStalledCount })` would not reach it.)
 */
const slurmTest = (maxStalledCount = 2) =>
  test.extend<{ maxStalledCount: number; suite: { sys: TestSystem; spoolDir: string } }>({
    maxStalledCount,
    suite: async ({ maxStalledCount }, use) => {
      const { toml, spoolDir } = slurmSuiteToml(`orqslurmchaos${++systems}`, { maxStalledCount });
      const sys = await startSystem({ toml });
      try {
        await use({ sys, spoolDir });
      } finally {
        await sys.stop();
      }
    },
  });
const it = slurmTest();

async function eventTypes(sys: TestSystem, taskId: string): Promise<string[]> {
  return (await sys.r.xrange(sys.keys.events, '-', '+'))
    .map(([, f]) => f)
    .filter((f) => f[3] === taskId)
    .map((f) => f[1]!);
}

describe.skipIf(!available)('slurm executor when a pool dies', { concurrent: true }, () => {
  /**
   * Submits a gated job on a pool, kills the pool once the job runs, lets `beforeRecovery`
   * tamper, starts a second pool and opens the gate once that pool runs the attempt again.
   */
  async function killMidJob({ sys, spoolDir }: { sys: TestSystem; spoolDir: string }, beforeRecovery: (taskId: string) => Promise<void>) {
    const doomed = await sys.startPool({ classes: 'gpu_slurm:1' });
    const taskId = `chaos-${randomUUID().slice(0, 8)}`;
    const marker = join(spoolDir, `${taskId}.starts`);
    const gate = join(spoolDir, `${taskId}.gate`);
    await sys.client.submitTask({
      taskId,
      taskClass: 'gpu_slurm',
      payload: { a: '1' },
      executor: { slurm: { memoryMb: 50, script: `#!/bin/sh\necho started >> ${marker}\nwhile [ ! -e ${gate} ]; do sleep 0.2; done\necho finished\n` } },
    });
    const jobId = (await waitFor(() => storedJobId(sys, taskId), { message: 'the job id was never stored' }))!;
    await waitFor(() => existsSync(marker), { message: `job ${jobId} never started` });
    doomed.kill('SIGKILL');
    await doomed.exited;
    await beforeRecovery(taskId);

    const survivor = await sys.startPool({ classes: 'gpu_slurm:1' });
    await waitFor(async () => (await eventTypes(sys, taskId)).filter((t) => t === 'started').length === 2, { message: 'the attempt never ran again' });
    writeFileSync(gate, '');
    const r = await sys.client.waitForResult(taskId);
    return { taskId, jobId, marker, survivor, r };
  }

  it('re-attaches to the job its dead pool submitted: the job is submitted once', { timeout: 120_000 }, async ({ suite }) => {
    const { sys } = suite;
    const { taskId, jobId, marker, survivor, r } = await killMidJob(suite, async () => undefined);
    expect(TaskState[r.state]).toBe('TASK_STATE_SUCCEEDED');
    expect(r.workerId).toBe(survivor.id);
    expect(r.attempt).toBe(1);
    expect(JSON.parse(r.resultJson)).toMatchObject({ slurmJobId: jobId, exitCode: 0, stdout: 'finished\n' });
    expect(readFileSync(marker, 'utf8')).toBe('started\n');
    expect(await eventTypes(sys, taskId)).toContain('stalled');
    expect(await slurm.jobsNamed(slurmJobName(sys.config.redis.prefix, taskId, 1))).toEqual([jobId]);
  });

  it('finds the job by its name when its pool died before storing the id', { timeout: 120_000 }, async ({ suite }) => {
    const { sys } = suite;
    const { jobId, marker, r } = await killMidJob(suite, async (taskId) => {
      await sys.r.del(sys.keys.slurmJob(taskId, 1));
    });
    expect(TaskState[r.state]).toBe('TASK_STATE_SUCCEEDED');
    expect(JSON.parse(r.resultJson)).toMatchObject({ slurmJobId: jobId });
    expect(readFileSync(marker, 'utf8')).toBe('started\n');
  });
});

describe.skipIf(!available)('slurm executor when a task stalls out', () => {
  // No stall recovery at all: the first time its pool dies, the task fails for good.
  const stallsOut = slurmTest(0);

  stallsOut('cancels the Slurm job of a task that failed because its pool died more often than allowed', { timeout: 120_000 }, async ({ suite }) => {
    const { sys, spoolDir } = suite;
    const doomed = await sys.startPool({ classes: 'gpu_slurm:1' });
    const taskId = `stallout-${randomUUID().slice(0, 8)}`;
    const marker = join(spoolDir, `${taskId}.starts`);
    await sys.client.submitTask({
      taskId,
      taskClass: 'gpu_slurm',
      payload: { a: '1' },
      // Never ends by itself: only a scancel stops it.
      executor: { slurm: { memoryMb: 50, script: `#!/bin/sh\necho started >> ${marker}\nwhile true; do sleep 0.2; done\n` } },
    });
    const jobId = (await waitFor(() => storedJobId(sys, taskId), { message: 'the job id was never stored' }))!;
    await waitFor(() => existsSync(marker), { message: `job ${jobId} never started` });
    doomed.kill('SIGKILL');
    await doomed.exited;

    // The survivor's stall check finds the task without a pool and fails it for good.
    await sys.startPool({ classes: 'gpu_slurm:1' });
    const r = await sys.client.waitForResult(taskId);
    expect(TaskState[r.state]).toBe('TASK_STATE_FAILED');
    expect(r.error).toMatch(/stalled/);
    expect(r.attempt).toBe(1);
    await waitFor(() => squeueState(jobId) === '', { message: `Slurm job ${jobId} of the stalled-out task still runs` });
    expect(readFileSync(marker, 'utf8')).toBe('started\n');
  });
});
