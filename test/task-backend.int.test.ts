/**
 * The pools' queue backend (src/store/bullmq/task-backend.ts) against a real Redis: the script that hands
 * a job over (BullMQ's moveToActive, or the moveToFinished that fetches the next job) writes the
 * attempt's "started" event and brings back a cancel requested while the task waited, without
 * touching the job's stored fields.
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineTaskCommands, PendingOutcomes, PendingStarts, taskBackend } from '../src/store/bullmq/task-backend.js';
import { startSystem, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => sys?.stop());

describe('task backend', () => {
  it('starts each job it hands over in the same script, with the cancel recorded meanwhile', async () => {
    // Queued before any worker serves cpu_long; the second has a cancel recorded.
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await sys.client.submitTask({ taskClass: 'cpu_long', payload: { i: String(i) } })).taskId);
    await sys.r.hset(sys.keys.cancel, ids[1]!, 'while it waited');

    const started = new PendingStarts();
    const seen = new Map<string, { cancelReason: string | null } | undefined>();
    const bull = new Redis(sys.redis.url, { maxRetriesPerRequest: null });
    defineTaskCommands(bull);
    const worker = new Worker(
      'cpu_long',
      async (job) => {
        seen.set(job.id!, started.take(job.id!));
        return null;
      },
      { connection: bull, prefix: sys.keys.queuePrefix, concurrency: 1, name: 'probe-pool' },
      taskBackend({
        keys: sys.keys,
        outcomes: new PendingOutcomes({ eventsMaxLen: 1000, resultsMaxLen: 1000 }),
        starts: started,
        eventsMaxLen: 1000,
        poolId: 'probe-pool',
      }),
    );
    try {
      await waitFor(() => seen.size === 3, { message: 'the worker did not take all three jobs' });
    } finally {
      await worker.close();
      bull.disconnect();
    }
    // One by one (concurrency 1): the first came from moveToActive, the others from the finish
    // of the one before; each was started by the script.
    expect(ids.map((id) => seen.get(id))).toEqual([{ cancelReason: null }, { cancelReason: 'while it waited' }, { cancelReason: null }]);
    const events = (await sys.r.xrange(sys.keys.events, '-', '+')).map(([, f]) => f).filter((f) => f[1] === 'started' && ids.includes(f[3]!));
    expect(events.map((f) => f[3])).toEqual(ids);
    for (const f of events) {
      expect(f.slice(4, 8)).toEqual(['class', 'cpu_long', 'attempt', '1']);
      expect(f.slice(10)).toEqual(['worker', 'probe-pool']);
    }
    // The fields the script appended to its reply are not stored on the job.
    for (const id of ids) expect(Object.keys(await sys.r.hgetall(sys.keys.job('cpu_long', id))).filter((k) => k.startsWith('orq'))).toEqual([]);
  });
});
