/**
 * The slurm executor end to end against a real single-node Slurm: tasks submitted over gRPC,
 * run by a real pool process that submits batch jobs with sbatch and tracks them. Skips without
 * Slurm on a laptop; fails under CI=true (see helpers/slurm.ts).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState, type ExecutorInput } from '../src/client/orchestrator-client.js';
import { resultFields } from './helpers/results.js';
import { slurm, slurmForTests, slurmSuiteToml, squeueState, storedJobId } from './helpers/slurm.js';
import { startSystem, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

const available = await slurmForTests('slurm executor suite');
let sys: TestSystem;

/** Small memory, so that jobs do not each claim the whole node (Slurm's default here). */
const job = (s: Extract<ExecutorInput, { slurm: unknown }>['slurm']): ExecutorInput => ({ slurm: { memoryMb: 50, ...s } });
const newId = (what: string) => `${what}-${randomUUID().slice(0, 8)}`;

describe.skipIf(!available)('slurm executor', () => {
  beforeAll(async () => {
    sys = await startSystem({ toml: slurmSuiteToml('orqslurm').toml });
    await sys.startPool({ classes: 'gpu_slurm:4' });
  });

  afterAll(async () => {
    await sys?.stop();
  });

  it('runs a command as a Slurm job and returns its output tail and exit code', async () => {
    const { taskId } = await sys.client.submitTask({
      taskId: newId('ok'),
      taskClass: 'gpu_slurm',
      payload: { a: '1' },
      executor: job({
        command: ['sh', '-c', 'echo "hello $GREETING $ORCHESTRATOR_TASK_ID"; echo note >&2; echo "redis=$REDIS_URL"'],
        env: { GREETING: "it's me" },
      }),
    });
    const r = await sys.client.waitForResult(taskId);
    expect(TaskState[r.state]).toBe('TASK_STATE_SUCCEEDED');
    const result = JSON.parse(r.resultJson) as Record<string, unknown>;
    // The job sees the task's variables, not the pool's environment.
    expect(result).toMatchObject({ exitCode: 0, state: 'COMPLETED', stdout: `hello it's me ${taskId}\nnote\nredis=\n` });
    expect(result.slurmJobId).toBe(await storedJobId(sys, taskId));
  });

  it('fails a job whose script exits non-zero, with the exit code and output', async () => {
    const { taskId } = await sys.client.submitTask({
      taskId: newId('fail'),
      taskClass: 'gpu_slurm',
      payload: { a: '1' },
      executor: job({ script: '#!/bin/sh\necho broken\nexit 3\n' }),
    });
    const r = await sys.client.waitForResult(taskId);
    expect(TaskState[r.state]).toBe('TASK_STATE_FAILED');
    expect(r.error).toMatch(/slurm job \d+ exited with code 3/);
    expect(JSON.parse((await resultFields(sys.r, sys.keys, taskId))!.result!)).toMatchObject({ exitCode: 3, state: 'FAILED', stdout: 'broken\n' });
  });

  it('cancels a running job with scancel', async () => {
    const { taskId } = await sys.client.submitTask({
      taskId: newId('cancel'),
      taskClass: 'gpu_slurm',
      payload: { a: '1' },
      executor: job({ command: ['sleep', '300'] }),
    });
    const jobId = (await waitFor(() => storedJobId(sys, taskId), { message: 'the job id was never stored' }))!;
    await waitFor(() => squeueState(jobId) === 'RUNNING', { message: `job ${jobId} never ran` });
    await sys.client.cancelTask(taskId, 'test');
    const r = await sys.client.waitForResult(taskId);
    expect(TaskState[r.state]).toBe('TASK_STATE_CANCELLED');
    expect(squeueState(jobId)).toBe('');
    expect((await slurm.job(jobId))?.state).toBe('CANCELLED');
  });

  it('times a job out at the task timeout and cancels it', async () => {
    const { taskId } = await sys.client.submitTask({
      taskId: newId('timeout'),
      taskClass: 'gpu_slurm',
      payload: { a: '1' },
      timeoutMs: 4000,
      executor: job({ command: ['sleep', '300'], timeLimitMinutes: 10 }),
    });
    const r = await sys.client.waitForResult(taskId);
    expect(TaskState[r.state]).toBe('TASK_STATE_FAILED');
    expect(r.error).toMatch(/^timed out/);
    expect((await resultFields(sys.r, sys.keys, taskId))!.error_code).toBe('timed_out');
    const jobId = (await storedJobId(sys, taskId))!;
    await waitFor(() => squeueState(jobId) === '', { message: `job ${jobId} still queued or running` });
  });

  it('refuses a spec with both a script and a command, naming the field', async () => {
    const err = await sys.client
      .submitTask({ taskClass: 'gpu_slurm', payload: { a: '1' }, executor: job({ script: '#!/bin/sh\ntrue\n', command: ['true'] }) })
      .catch((e: Error) => e);
    expect((err as Error).message).toMatch(/executor\.slurm: needs exactly one of script and command/);
  });
});
