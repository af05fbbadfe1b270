/**
 * A task's job stores its timeout and backoff only when the caller gave them
 * (src/store/codecs/job-data.ts): one without gets its class's where it runs, from the pool's own
 * config, as Celery and Hatchet apply a task's retry policy on the worker. Here the pool's config
 * gives gpu_slurm another timeout and backoff than the front end's, so a test can tell whose
 * applied. Jobs queued in the layout of earlier versions (executor and timeout in the data, the
 * id and backoff in the options) run as they did. Real Redis, a real pool process.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState } from '../src/client/orchestrator-client.js';
import { resultFields } from './helpers/results.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

const POOL_TIMEOUT_MS = 800;
const POOL_BACKOFF_MS = 400;

let sys: TestSystem;
const queues: Queue[] = [];

beforeAll(async () => {
  sys = await startSystem();
  // gpu_slurm is the last class of the test config: these lines are its keys, on the pool only.
  const poolConfig = join(mkdtempSync(join(tmpdir(), 'orq-pool-config-')), 'pool.toml');
  writeFileSync(poolConfig, `${TEST_CONFIG_TOML}timeoutMs = ${POOL_TIMEOUT_MS}\nbackoff = { type = "fixed", delayMs = ${POOL_BACKOFF_MS} }\n`);
  await sys.startPool({ classes: 'gpu_slurm', env: { ORCHESTRATOR_CONFIG: poolConfig } });
});
afterAll(async () => {
  for (const q of queues) await q.close();
  await sys?.stop();
});

/** The task's events in order, each as its fields. */
async function eventsOf(taskId: string): Promise<Record<string, string>[]> {
  return (await sys.r.xrange(sys.keys.events, '-', '+'))
    .filter(([, f]) => f.includes(taskId))
    .map(([, f]) => Object.fromEntries(Array.from({ length: f.length / 2 }, (_, i) => [f[2 * i]!, f[2 * i + 1]!])));
}

function finalResult(taskId: string): Promise<Record<string, string>> {
  return waitFor(() => resultFields(sys.r, sys.keys, taskId), { timeoutMs: 30_000, message: `no result for ${taskId}` }) as Promise<Record<string, string>>;
}

describe("a task's class defaults", () => {
  it('are the front end’s at submission and not stored in the job', () => {
    // The premise of this file: the front end would have given other values.
    const cls = sys.config.classes.get('gpu_slurm')!;
    expect(cls.timeoutMs).not.toBe(POOL_TIMEOUT_MS);
    expect(cls.backoff.delayMs).not.toBe(POOL_BACKOFF_MS);
  });

  it('give a task submitted without a backoff its class’s backoff on the pool that runs it', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'gpu_slurm',
      payload: { succeed_on_attempt: '2' },
      executor: { handler: 'fail' },
      maxAttempts: 2,
    });
    const stored = JSON.parse((await sys.r.hget(sys.keys.job('gpu_slurm', taskId), 'opts'))!) as Record<string, unknown>;
    expect(stored).not.toHaveProperty('backoff');
    const r = await sys.client.waitForResult(taskId);
    expect(TaskState[r.state]).toBe('TASK_STATE_SUCCEEDED');
    expect(r.attempt).toBe(2);
    const events = await eventsOf(taskId);
    const retrying = events.find((e) => e.type === 'retrying')!;
    expect(retrying.detail).toContain(`(retry in ${POOL_BACKOFF_MS} ms)`);
    const starts = (await sys.r.xrange(sys.keys.events, '-', '+'))
      .filter(([, f]) => f.includes(taskId) && f[1] === 'started')
      .map(([id]) => Number(id.split('-')[0]));
    expect(starts).toHaveLength(2);
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(POOL_BACKOFF_MS - 10);
  });

  it('give a task submitted without a timeout its class’s timeout on the pool that runs it', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'gpu_slurm',
      payload: { a: '1' },
      executor: { command: { argv: ['sleep', '30'] } },
      maxAttempts: 1,
    });
    const data = JSON.parse((await sys.r.hget(sys.keys.job('gpu_slurm', taskId), 'data'))!) as Record<string, unknown>;
    expect(data).not.toHaveProperty('timeoutMs');
    const r = await finalResult(taskId);
    expect(r.error_code).toBe('timed_out');
    expect(r.error).toContain(`timed out after ${POOL_TIMEOUT_MS} ms`);
  });

  it('leave a timeout and backoff the caller gave as given', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'gpu_slurm',
      payload: { a: '1' },
      executor: { command: { argv: ['sleep', '30'] } },
      maxAttempts: 2,
      timeoutMs: 300,
      backoff: { type: 'fixed', delayMs: 20 },
    });
    await waitFor(async () => (await eventsOf(taskId)).some((e) => e.type === 'failed'), { timeoutMs: 30_000, message: `${taskId} never failed` });
    const events = await eventsOf(taskId);
    expect(events.find((e) => e.type === 'retrying')!.detail).toMatch(/timed out after 300 ms \(retry in 20 ms\)/);
  });
});

describe('a job queued by an earlier version', () => {
  it('runs with the executor, timeout and backoff its data and options carry', async () => {
    // Written as the submitter wrote jobs before: executor and timeoutMs in the data (scheduleId
    // after timeoutMs), the id and the class's backoff in the options.
    const q = new Queue('gpu_slurm', { connection: sys.r.duplicate(), prefix: sys.keys.queuePrefix });
    queues.push(q);
    const taskId = 'old-layout-1';
    await q.add(
      'handler:fail',
      { executor: { kind: 'handler', name: 'fail' }, payload: { succeed_on_attempt: '2' }, timeoutMs: 5000, scheduleId: 'sched-old' },
      { jobId: taskId, attempts: 2, backoff: { type: 'fixed', delay: 50 }, priority: 1001 },
    );
    const r = await finalResult(taskId);
    expect(r.state).toBe('succeeded');
    expect(r.attempt).toBe('2');
    const events = await eventsOf(taskId);
    const retrying = events.find((e) => e.type === 'retrying')!;
    expect(retrying.detail).toContain('(retry in 50 ms)');
    // The scripts' reader of the data (includes/job-facts.lua) finds the schedule in the old layout.
    expect(events.find((e) => e.type === 'started')!.schedule_id).toBe('sched-old');
  });

  it('is refused when neither its data nor its name says what to run', async () => {
    const q = new Queue('gpu_slurm', { connection: sys.r.duplicate(), prefix: sys.keys.queuePrefix });
    queues.push(q);
    await q.add('command', { payload: { a: '1' } }, { jobId: 'no-executor-1', attempts: 3 });
    const r = await finalResult('no-executor-1');
    expect(r.error_code).toBe('policy_denied');
    expect(r.error).toMatch(/has no executor and its name "command" names none/);
    expect(r.attempt).toBe('1');
  });
});
