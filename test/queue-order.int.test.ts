/**
 * The order a class's tasks run in: a task of priority 0 waits in BullMQ's wait list and every
 * other task in its prioritized set, and the pools' backend (src/store/bullmq/task-backend.ts,
 * lua/includes/take-next-job.lua) takes the set first: higher priorities first, FIFO within one,
 * priority 0 last. Checked on every path that hands a job over (moveToActive, the finish that
 * fetches the next job, a retry's move that fetches one), with a retry and a delayed task
 * coming back, a job a previous version queued (BullMQ priority 1001), a paused queue and a global
 * concurrency limit. A manual BullMQ Worker on our backend takes the jobs one call at a time.
 */
import { Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState, type TaskInput } from '../src/client/orchestrator-client.js';
import { defineTaskCommands, PendingOutcomes, PendingStarts, taskBackend } from '../src/store/bullmq/task-backend.js';
import { startSystem, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => sys?.stop());

/** gpu_slurm: no pool of the test system serves it, so only this file's Worker takes its jobs. */
const CLASS = 'gpu_slurm';
const TOKEN = 'order-token';

interface Taker {
  worker: Worker;
  queue: Queue;
  /** moveToActive: the job handed over, or undefined. */
  first(): Promise<Job | undefined>;
  /** Completes `job` and fetches the next one in the same call (moveToFinished): its id, or undefined. */
  completeAndNext(job: Job): Promise<string | undefined>;
  close(): Promise<void>;
}

async function taker(): Promise<Taker> {
  const bull = new Redis(sys.redis.url, { maxRetriesPerRequest: null });
  defineTaskCommands(bull);
  const backend = taskBackend({
    keys: sys.keys,
    outcomes: new PendingOutcomes({ eventsMaxLen: 1000, resultsMaxLen: 1000 }),
    starts: new PendingStarts(),
    eventsMaxLen: 1000,
    poolId: 'order-pool',
  });
  const worker = new Worker(CLASS, null, { connection: bull, prefix: sys.keys.queuePrefix, autorun: false, name: 'order-pool' }, backend);
  const queue = new Queue(CLASS, { connection: sys.r.duplicate(), prefix: sys.keys.queuePrefix });
  return {
    worker,
    queue,
    first: () => worker.getNextJob(TOKEN, { block: false }),
    async completeAndNext(job) {
      const r = (await job.moveToCompleted('done', TOKEN, true)) as unknown;
      return Array.isArray(r) && r[1] ? String(r[1]) : undefined;
    },
    async close() {
      await worker.close();
      await queue.close();
      await queue.disconnect();
      bull.disconnect();
    },
  };
}

/** Takes every job there is, one at a time (the first by moveToActive, the rest by the finish of the one before). */
async function drain(t: Taker): Promise<string[]> {
  const out: string[] = [];
  let job = await t.first();
  while (job) {
    out.push(job.id!);
    const next = await t.completeAndNext(job);
    job = next ? await Job0(t, next) : undefined;
  }
  return out;
}

/** The job `id` as the Worker (our backend) reads it, to finish it next. */
async function Job0(t: Taker, id: string): Promise<Job> {
  const job = await Job.fromId(t.worker, id);
  if (!job) throw new Error(`job ${id} is gone`);
  return job;
}

async function submit(id: string, extra: Partial<TaskInput> = {}): Promise<string> {
  const r = await sys.client.submitTask({ taskId: id, taskClass: CLASS, payload: { id }, executor: { command: { argv: ['true'] } }, ...extra });
  expect(r.created).toBe(true);
  return r.taskId;
}

const prefix = () => `${sys.keys.queuePrefix}:${CLASS}`;

/**
 * Rewrites queued task `id` (submitted with a priority > 0) as a previous version stored a task of
 * priority 0: BullMQ priority 1001 in the prioritized set, scored after every job there.
 */
async function asPreviousVersion(id: string): Promise<void> {
  const jobKey = sys.keys.job(CLASS, id);
  const opts = JSON.parse((await sys.r.hget(jobKey, 'opts'))!) as Record<string, unknown>;
  const pc = await sys.r.incr(`${prefix()}:pc`);
  await sys.r
    .multi()
    .hset(jobKey, 'priority', 1001, 'opts', JSON.stringify({ ...opts, priority: 1001 }))
    .zadd(`${prefix()}:prioritized`, 1001 * 0x100000000 + pc, id)
    .exec();
}

describe('queue order', () => {
  it('takes higher priorities first, FIFO within one, priority 0 (the wait list) last, a previous version’s priority-0 job before today’s', async () => {
    const t = await taker();
    try {
      await submit('o-a0');
      await submit('o-b5', { priority: 5 });
      await submit('o-old', { priority: 1 });
      await asPreviousVersion('o-old');
      await submit('o-c0');
      await submit('o-d900', { priority: 900 });
      await submit('o-e5', { priority: 5 });
      await submit('o-f0', { priority: 0 });
      // Priority 0 costs a wait-list entry, not a prioritized one.
      expect(await sys.r.lrange(`${prefix()}:wait`, 0, -1)).toEqual(['o-f0', 'o-c0', 'o-a0']);
      expect(await sys.r.zrange(`${prefix()}:prioritized`, 0, -1)).toEqual(['o-d900', 'o-b5', 'o-e5', 'o-old']);
      // Status reads BullMQ priority 0, and a previous version's 1001, as priority 0.
      for (const id of ['o-a0', 'o-old']) expect((await sys.client.getTaskStatus(id)).priority).toBe(0);
      expect((await sys.client.getTaskStatus('o-b5')).priority).toBe(5);

      expect(await drain(t)).toEqual(['o-d900', 'o-b5', 'o-e5', 'o-old', 'o-a0', 'o-c0', 'o-f0']);
      // Each was started by the script that handed it over.
      const started = (await sys.r.xrange(sys.keys.events, '-', '+')).filter(([, f]) => f[1] === 'started' && f[3]!.startsWith('o-'));
      expect(started.map(([, f]) => f[3])).toEqual(['o-d900', 'o-b5', 'o-e5', 'o-old', 'o-a0', 'o-c0', 'o-f0']);
    } finally {
      await t.close();
    }
  });

  it('puts a delayed task of priority > 0 that came due before the waiting priority-0 tasks, and a retried priority-0 task behind them', async () => {
    const t = await taker();
    try {
      await submit('d-a0');
      await submit('d-b0', { maxAttempts: 2, backoff: { type: 'fixed', delayMs: 0 } });
      await submit('d-c0');
      await submit('d-late5', { priority: 5, delayMs: 300 });
      const a = await t.first();
      expect(a?.id).toBe('d-a0');
      // The delayed task comes due while d-a0 runs: it is promoted and taken first, by the finish.
      await waitFor(async () => {
        const due = await sys.r.zrange(`${prefix()}:delayed`, 0, 0, 'WITHSCORES');
        return due.length === 2 && Number(due[1]) / 0x1000 < Date.now() - 5;
      });
      const next = await t.completeAndNext(a!);
      expect(next).toBe('d-late5');
      const late = await Job0(t, next!);
      expect(await t.completeAndNext(late)).toBe('d-b0');
      // d-b0 fails with an attempt left and no backoff: BullMQ's retryJob puts it back in the
      // wait list, behind d-c0.
      const b = await Job0(t, 'd-b0');
      await b.moveToFailed(new Error('first attempt fails'), TOKEN, false);
      expect(await sys.r.lrange(`${prefix()}:wait`, 0, -1)).toEqual(['d-b0', 'd-c0']);
      expect(await drain(t)).toEqual(['d-c0', 'd-b0']);
    } finally {
      await t.close();
    }
  });

  it('a retry with backoff that fetches the next job takes the prioritized set first', async () => {
    const t = await taker();
    try {
      await submit('r-a0', { maxAttempts: 2, backoff: { type: 'fixed', delayMs: 60_000 } });
      await submit('r-b0');
      const a = await t.first();
      expect(a?.id).toBe('r-a0');
      await submit('r-c7', { priority: 7 });
      // moveToDelayed with fetch next (the Worker's retry with a delay).
      const r = (await a!.moveToFailed(new Error('retry later'), TOKEN, true)) as unknown;
      expect(Array.isArray(r) && r[1]).toBe('r-c7');
      expect(await sys.r.zscore(`${prefix()}:delayed`, 'r-a0')).not.toBeNull();
      expect(await t.completeAndNext(await Job0(t, 'r-c7'))).toBe('r-b0');
      expect(await t.completeAndNext(await Job0(t, 'r-b0'))).toBeUndefined();
      await sys.client.cancelTask('r-a0');
    } finally {
      await t.close();
    }
  });

  it('takes nothing while the queue is paused or at its global concurrency, then resumes in order', async () => {
    const t = await taker();
    try {
      await t.queue.pause();
      await submit('p-a0');
      await submit('p-b3', { priority: 3 });
      expect(await t.first()).toBeUndefined();
      await t.queue.resume();
      await t.queue.setGlobalConcurrency(1);
      const b = await t.first();
      expect(b?.id).toBe('p-b3');
      // One job active, global concurrency 1: nothing more is handed over.
      expect(await t.first()).toBeUndefined();
      await t.queue.removeGlobalConcurrency();
      expect(await t.completeAndNext(b!)).toBe('p-a0');
      const a = await Job0(t, 'p-a0');
      expect(await t.completeAndNext(a)).toBeUndefined();
    } finally {
      await t.close();
    }
  });
});

describe('queue order through a pool', () => {
  it('runs a previous version’s priority-0 job among today’s in order', async () => {
    const tasks = ['x-a0', 'x-b2', 'x-old', 'x-c0'];
    await submit('x-a0', { taskClass: 'cpu_long', executor: undefined });
    await submit('x-b2', { taskClass: 'cpu_long', priority: 2, executor: undefined });
    await submit('x-old', { taskClass: 'cpu_long', priority: 1, executor: undefined });
    await submit('x-c0', { taskClass: 'cpu_long', executor: undefined });
    const jobKey = sys.keys.job('cpu_long', 'x-old');
    const pc = await sys.r.incr(`${sys.keys.queuePrefix}:cpu_long:pc`);
    await sys.r.hset(jobKey, 'priority', 1001);
    await sys.r.zadd(`${sys.keys.queuePrefix}:cpu_long:prioritized`, 1001 * 0x100000000 + pc, 'x-old');
    const pool = await sys.startPool({ classes: 'cpu_long:1' });
    try {
      await waitFor(async () => (await Promise.all(tasks.map((id) => sys.client.getTaskStatus(id)))).every((s) => s.state === TaskState.TASK_STATE_SUCCEEDED));
    } finally {
      pool.kill('SIGTERM');
      await pool.exited;
    }
    const starts = (await sys.r.xrange(sys.keys.events, '-', '+')).filter(([, f]) => f[1] === 'started' && f[3]!.startsWith('x-')).map(([, f]) => f[3]);
    expect(starts).toEqual(['x-b2', 'x-old', 'x-a0', 'x-c0']);
  });
});
