/**
 * Lock renewal per run (workers/run-locks.ts) against a real Redis and BullMQ's own Worker code:
 * a run whose lock goes is stopped with a LockLost, and when the same Worker takes the job again
 * while the first run still goes, the first run's end leaves the rerun's renewal alone. With
 * BullMQ's LockManager (tracking by job id) the rerun's lock went unrenewed once the first run
 * ended, the job stalled a second time and failed "job stalled more than allowable limit".
 */
import { DelayedError, Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LockLost, TaskWorker } from '../workers/run-locks.js';
import { startRedis, type RedisServerHandle } from './helpers/redis-server.js';
import { waitFor } from './helpers/wait.js';

const PREFIX = '{runlocks}';
/** Lock and stall timings a few times shorter than the test classes'. */
const LOCK_MS = 1_000;

let redis: RedisServerHandle;
let connection: Redis;
let queue: Queue;
let worker: TaskWorker | undefined;

beforeAll(async () => {
  redis = await startRedis();
  connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  queue = new Queue('runs', { connection, prefix: PREFIX });
});

afterAll(async () => {
  await worker?.close(true);
  await queue?.close();
  connection?.disconnect();
  await redis?.stop();
});

interface Run {
  token: string;
  reason?: unknown;
  ended: boolean;
}

it('stops a run that lost its lock, and keeps renewing the rerun the same Worker took after the first run ended', async () => {
  const runs: Run[] = [];
  worker = new TaskWorker(
    'runs',
    async (_job: Job, token?: string, signal?: AbortSignal) => {
      const run: Run = { token: token!, ended: false };
      runs.push(run);
      if (runs.length === 1) {
        await new Promise((resolve) => signal!.addEventListener('abort', resolve, { once: true }));
        run.reason = signal!.reason;
        // Like work that takes a while to stop: it ends only once the rerun runs beside it.
        await waitFor(() => runs.length >= 2, { timeoutMs: 10_000 });
        run.ended = true;
        throw new DelayedError();
      }
      // The rerun runs for several lock durations after the first run ended: its lock must be
      // renewed all along.
      await waitFor(() => runs[0]!.ended, { timeoutMs: 10_000 });
      await new Promise((resolve) => setTimeout(resolve, 4 * LOCK_MS));
      return 'done';
    },
    { connection, prefix: PREFIX, concurrency: 2, lockDuration: LOCK_MS, stalledInterval: LOCK_MS / 2, maxStalledCount: 1 },
  );
  await queue.add('task', {}, { jobId: 'j1', attempts: 1 });
  await waitFor(() => runs.length === 1, { message: 'the job never ran' });

  // What a pool stalled past its lock looks like from Redis: the lock is gone while it runs.
  expect(await connection.del(`${PREFIX}:runs:j1:lock`)).toBe(1);

  const state = await waitFor(
    async () => {
      const st = await queue.getJobState('j1');
      return st === 'completed' || st === 'failed' ? st : undefined;
    },
    { timeoutMs: 30_000, message: 'the job never finished' },
  );
  const job = (await queue.getJob('j1'))!;
  expect(state, job.failedReason).toBe('completed');
  expect(job.returnvalue).toBe('done');
  expect(runs).toHaveLength(2);
  expect(runs[0]!.reason).toBeInstanceOf(LockLost);
  expect(runs[1]!.token).not.toBe(runs[0]!.token);
  // One lost lock, one stall.
  expect(await connection.hget(`${PREFIX}:runs:j1`, 'stc')).toBe('1');
});
