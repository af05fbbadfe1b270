/**
 * The slurm executor end to end against a real single-node Slurm: tasks submitted over gRPC,
 * run by a real pool process that submits batch jobs with sbatch and tracks them. Skips without
 * Slurm on a laptop; fails under CI=true (see helpers/slurm.ts).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState, type ExecutorInput } from '../src/client/orchestrator-client.js';
import { LogStream, type TaskResult } from '../src/gen/orchestrator/v1/orchestrator.js';
import { resultFields } from './helpers/results.js';
import { scontrolJobFields, slurm, slurmForTests, slurmGpusForTests, slurmSuiteToml, squeueState, storedJobId } from './helpers/slurm.js';
import { startSystem, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

const available = await slurmForTests('slurm executor suite');
const gpus = available && slurmGpusForTests('slurm executor suite');
let sys: TestSystem;
let spoolDir: string;

/** Small memory, so that jobs do not each claim the whole node (Slurm's default here). */
const job = (s: Extract<ExecutorInput, { slurm: unknown }>['slurm']): ExecutorInput => ({ slurm: { memoryMb: 50, ...s } });
const newId = (what: string) => `${what}-${randomUUID().slice(0, 8)}`;

describe.skipIf(!available)('slurm executor', () => {
  beforeAll(async () => {
    const suite = slurmSuiteToml('orqslurm');
    spoolDir = suite.spoolDir;
    sys = await startSystem({ toml: suite.toml });
    await sys.startPool({ classes: 'gpu_slurm:4' });
  });

  afterAll(async () => {
    await sys?.stop();
  });

  // Waits for the whole node: the job asks for both CPUs, so it runs only once other suites'
  // jobs have ended.
  it.skipIf(!gpus)(
    'submits the partition, GPUs, CPUs, memory and time limit a task asks for: the running job has each',
    async () => {
      const taskId = newId('resources');
      const gate = join(spoolDir, `${taskId}.gate`);
      await sys.client.submitTask({
        taskId,
        taskClass: 'gpu_slurm',
        payload: { a: '1' },
        executor: {
          slurm: {
            partition: 'gpu',
            gres: 'gpu:1',
            cpus: 2,
            memoryMb: 64,
            timeLimitMinutes: 7,
            script: `#!/bin/sh\necho "gpu=$CUDA_VISIBLE_DEVICES"\nwhile [ ! -e ${gate} ]; do sleep 0.2; done\n`,
          },
        },
      });
      let jobId: string;
      let job: Record<string, string>;
      try {
        jobId = (await waitFor(() => storedJobId(sys, taskId), { message: 'the job id was never stored' }))!;
        job = (await waitFor(
          () => {
            const fields = scontrolJobFields(jobId);
            return fields.JobState === 'RUNNING' ? fields : undefined;
          },
          { timeoutMs: 150_000, intervalMs: 250, message: `job ${jobId} never ran` },
        ))!;
      } finally {
        // Lets the job end, even when the test failed.
        writeFileSync(gate, '');
      }
      expect(job).toMatchObject({
        Partition: 'gpu',
        NumCPUs: '2',
        'CPUs/Task': '2',
        MinMemoryNode: '64M',
        TimeLimit: '00:07:00',
        TresPerNode: 'gres:gpu:1',
        // Allocated, not only asked for.
        JOB_GRES: 'gpu:1',
      });
      const r = await sys.client.waitForResult(taskId);
      expect(TaskState[r.state]).toBe('TASK_STATE_SUCCEEDED');
      // Slurm hands the job its GPU.
      expect(JSON.parse(r.resultJson)).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/^gpu=[01]\n$/) });
    },
    180_000,
  );

  describe('beside a job that outlives its Slurm time limit', () => {
    // Slurm's limits are whole minutes (sbatch rounds seconds up) and slurmctld checks them every
    // 30 s, so a job asking for one minute ends 60 to 90 s after it starts. Once the job runs, the
    // test lowers its limit to zero with `scontrol update`, as an administrator may: Slurm ends it
    // at its next check (within 30 s), in state TIMEOUT, as it ends any job past its limit. That a
    // task's timeLimitMinutes reaches Slurm is the resources test's part. The job is submitted
    // before this group's other tests, which run while it waits for the check, and its test comes
    // last. After the resources test, which needs the whole node (this job holds one CPU).
    let limitTask: { taskId: string; jobId: string; result: Promise<TaskResult> };
    beforeAll(async () => {
      const { taskId } = await sys.client.submitTask({
        taskId: newId('slurmlimit'),
        taskClass: 'gpu_slurm',
        payload: { a: '1' },
        maxAttempts: 3,
        executor: job({ command: ['sleep', '600'], timeLimitMinutes: 1 }),
      });
      const jobId = (await waitFor(() => storedJobId(sys, taskId), { message: 'the job id was never stored' }))!;
      await waitFor(() => squeueState(jobId) === 'RUNNING', { timeoutMs: 60_000, message: `job ${jobId} never ran` });
      expect(scontrolJobFields(jobId).TimeLimit).toBe('00:01:00');
      execFileSync('scontrol', ['update', `JobId=${jobId}`, 'TimeLimit=0'], { timeout: 10_000 });
      // Waited for from now, while the job runs, as a caller waiting on it would: the result as
      // the results feed carries it when the job ends.
      const result = sys.client.waitForResult(taskId);
      result.catch(() => undefined);
      limitTask = { taskId, jobId, result };
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

    it("writes the job's output file to the task's log", async () => {
      const { taskId } = await sys.client.submitTask({
        taskId: newId('logs'),
        taskClass: 'gpu_slurm',
        payload: { a: '1' },
        executor: job({ script: '#!/bin/sh\necho "loading data"\necho "out of disk" >&2\nexit 2\n' }),
      });
      expect((await sys.client.waitForResult(taskId)).state).toBe(TaskState.TASK_STATE_FAILED);
      const logs = await sys.client.getTaskLogs(taskId);
      // Slurm writes stdout and stderr to one file: its lines are the attempt's stdout.
      expect(logs.lines.map((l) => [l.attempt, LogStream[l.stream], l.text])).toEqual([
        [1, 'LOG_STREAM_STDOUT', 'loading data'],
        [1, 'LOG_STREAM_STDOUT', 'out of disk'],
      ]);
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
      expect((err as Error).message).toMatch(/executor\.slurm: needs exactly one of name, script and command/);
    });

    // The job's limit, lowered to zero once it ran, is enforced at slurmctld's next check (every
    // 30 s): the job ends within about 30 s of starting (21 s seen here).
    it('fails a job that outlives its Slurm time limit as timed out, without a retry', async () => {
      const { taskId, jobId } = limitTask;
      const r = await limitTask.result;
      expect(TaskState[r.state]).toBe('TASK_STATE_FAILED');
      expect(r.attempt).toBe(1);
      // Said apart from the task's own timeout ("timed out after N ms").
      expect(r.error).toBe(`slurm job ${jobId} reached its Slurm time limit`);
      const fields = (await resultFields(sys.r, sys.keys, taskId))!;
      expect(fields.error_code).toBe('timed_out');
      expect(JSON.parse(fields.result!)).toMatchObject({ slurmJobId: jobId, state: 'TIMEOUT' });
      expect((await sys.client.getTaskStatus(taskId)).attemptsMade).toBe(1);
      const retries = (await sys.r.xrange(sys.keys.events, '-', '+')).filter(([, f]) => f[3] === taskId && f[1] === 'retrying');
      expect(retries).toEqual([]);
      await waitFor(() => squeueState(jobId) === '', { message: `job ${jobId} still queued or running` });
    }, 90_000);
  });
});
