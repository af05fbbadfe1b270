/**
 * The pools' finish of a job (src/store/bullmq/task-backend.ts): finish-plain-job.lua, BullMQ's
 * moveToFinished rebuilt from its fragments, must leave in Redis what BullMQ's own script leaves.
 * Each case runs the same jobs through a plain BullMQ Worker and through a Worker on our backend,
 * on a real Redis, and compares the jobs' hashes, the finished sets and BullMQ's event stream. A
 * job with a deduplication id or a parent (a flow's child), and a worker that removes finished
 * jobs, go to BullMQ's whole script (move-to-finished.lua); which script ran is read from Redis's
 * script cache.
 */
import { createHash } from 'node:crypto';
import { FlowProducer, Queue, Worker, type Job, type JobsOptions, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defineTaskCommands, PendingOutcomes, PendingStarts, taskBackend } from '../src/store/bullmq/task-backend.js';
import { keys as makeKeys } from '../src/store/keys.js';
import { scriptSource } from '../src/store/store-script.js';
import { startRedis, type RedisServerHandle } from './helpers/redis-server.js';
import { waitFor } from './helpers/wait.js';

let server: RedisServerHandle;
let r: Redis;
const keys = makeKeys('orqfin');
const sha = (name: string) => createHash('sha1').update(scriptSource(name)).digest('hex');

beforeAll(async () => {
  server = await startRedis();
  r = new Redis(server.url);
});
afterAll(async () => {
  r?.disconnect();
  await server?.stop();
});
beforeEach(async () => {
  await r.flushall();
  await r.script('FLUSH');
});

interface JobSpec {
  name: string;
  opts?: JobsOptions;
  /** The processor throws this message; otherwise it returns { ok: name }. */
  fail?: string;
}

/** Fields that hold a time, a lock token or the worker's name: they differ run to run. */
const VARYING = new Set(['timestamp', 'processedOn', 'finishedOn', 'pb', 'stacktrace']);

/** Runs `jobs` on queue `queue` through a Worker (ours when `ours`) until each finished; what Redis holds then. */
async function run(queue: string, ours: boolean, jobs: JobSpec[], workerOpts: Partial<WorkerOptions> = {}, flow = false) {
  const q = new Queue(queue, { connection: r.duplicate(), prefix: keys.queuePrefix });
  const ids: string[] = [];
  if (flow) {
    // jobs[0] the parent, the others its children, all on `queue`.
    const producer = new FlowProducer({ connection: r.duplicate(), prefix: keys.queuePrefix });
    const tree = await producer.add({
      name: jobs[0]!.name,
      queueName: queue,
      data: { n: jobs[0]!.name },
      children: jobs.slice(1).map((j) => ({ name: j.name, queueName: queue, data: { n: j.name } })),
    });
    ids.push(tree.job.id!, ...tree.children!.map((c) => c.job.id!));
    await producer.close();
  } else for (const j of jobs) ids.push((await q.add(j.name, { n: j.name }, j.opts)).id!);
  const bull = new Redis(server.url, { maxRetriesPerRequest: null });
  if (ours) defineTaskCommands(bull);
  const fail = new Map(jobs.filter((j) => j.fail).map((j) => [j.name, j.fail!]));
  const processor = async (job: Job) => {
    const message = fail.get(job.name);
    if (message) throw new Error(message);
    return { ok: job.name };
  };
  const opts: WorkerOptions = { connection: bull, prefix: keys.queuePrefix, concurrency: 1, name: 'probe', ...workerOpts };
  const worker = ours
    ? new Worker(
        queue,
        processor,
        opts,
        taskBackend({
          keys,
          outcomes: new PendingOutcomes({ eventsMaxLen: 1000, resultsMaxLen: 1000 }),
          starts: new PendingStarts(),
          eventsMaxLen: 1000,
          poolId: 'probe',
        }),
      )
    : new Worker(queue, processor, opts);
  const finished = new Set<string>();
  worker.on('completed', (job) => finished.add(job.id!));
  worker.on('failed', (job) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) finished.add(job.id!);
  });
  try {
    await waitFor(() => finished.size === jobs.length, { message: `${queue}: not every job finished` });
    // BullMQ writes the last finish's events in the script that reports it; wait for the drain too.
    await waitFor(async () => (await r.xrange(`${keys.queuePrefix}:${queue}:events`, '-', '+')).some(([, f]) => f[1] === 'drained'), {
      message: `${queue}: no drained event`,
    });
  } finally {
    await worker.close();
    bull.disconnect();
    await q.close();
  }
  const base = `${keys.queuePrefix}:${queue}`;
  const hashes = [];
  for (const id of ids) {
    const h = await r.hgetall(`${base}:${id}`);
    hashes.push(Object.fromEntries(Object.entries(h).filter(([k]) => !VARYING.has(k))));
  }
  const events = (await r.xrange(`${base}:events`, '-', '+')).map(([, f]) => f.filter((_, i) => i % 2 === 1 && f[i - 1] !== 'attemptsMade').join(' '));
  return {
    hashes,
    completed: await r.zrange(`${base}:completed`, 0, -1),
    failed: await r.zrange(`${base}:failed`, 0, -1),
    events,
  };
}

describe('finish-plain-job.lua', () => {
  const jobs: JobSpec[] = [{ name: 'a' }, { name: 'b', fail: 'boom' }, { name: 'c', opts: { attempts: 2 }, fail: 'twice' }, { name: 'd' }, { name: 'e' }];

  it('leaves what BullMQ’s moveToFinished leaves: job fields, finished sets, events', async () => {
    const plain = await run('plain', false, jobs);
    const ours = await run('ours', true, jobs);
    expect(await r.script('EXISTS', sha('tasks/finish-plain-job'), sha('tasks/move-to-finished'))).toEqual([1, 0]);
    expect(ours).toEqual(plain);
    // What the comparison covers.
    expect(ours.completed.length).toBe(3);
    expect(ours.failed.length).toBe(2);
    expect(ours.events.filter((e) => e.startsWith('retries-exhausted'))).toHaveLength(2);
    expect(ours.hashes[0]).toMatchObject({ returnvalue: '{"ok":"a"}', atm: '1' });
    expect(ours.hashes[1]).toMatchObject({ failedReason: 'boom', atm: '1' });
    expect(ours.hashes[1]).not.toHaveProperty('defa');
  });

  it('sends a job with a deduplication id to BullMQ’s whole script, which frees the id', async () => {
    const dedup: JobSpec[] = [{ name: 'a', opts: { deduplication: { id: 'one' } } }];
    const plain = await run('plain', false, dedup);
    const ours = await run('ours', true, dedup);
    expect(await r.script('EXISTS', sha('tasks/finish-plain-job'), sha('tasks/move-to-finished'))).toEqual([1, 1]);
    expect(ours).toEqual(plain);
    expect(await r.exists(`${keys.queuePrefix}:ours:de:one`)).toBe(0);
    expect(ours.completed).toEqual(['1']);
  });

  it('sends the finish of a worker that removes finished jobs to BullMQ’s whole script', async () => {
    const removed: JobSpec[] = [{ name: 'a' }, { name: 'b', fail: 'boom' }];
    const opts = { removeOnComplete: { count: 0 }, removeOnFail: { age: 3600 } };
    const plain = await run('plain', false, removed, opts);
    const ours = await run('ours', true, removed, opts);
    expect(await r.script('EXISTS', sha('tasks/finish-plain-job'), sha('tasks/move-to-finished'))).toEqual([0, 1]);
    expect(ours).toEqual(plain);
    expect(ours.hashes[0]).toEqual({});
    expect(ours.failed).toEqual(['2']);
  });

  it('sends a flow’s children to BullMQ’s whole script, which releases their parent', async () => {
    const tree: JobSpec[] = [{ name: 'parent' }, { name: 'child-1' }, { name: 'child-2' }];
    const plain = await run('plain', false, tree, {}, true);
    const ours = await run('ours', true, tree, {}, true);
    expect(await r.script('EXISTS', sha('tasks/finish-plain-job'), sha('tasks/move-to-finished'))).toEqual([1, 1]);
    // Job ids are generated and the parent's key names its queue: both are dropped to compare.
    const strip = (x: typeof ours) =>
      JSON.stringify(x)
        .replaceAll(/[0-9a-f]{8}-[0-9a-f-]{27}/g, 'ID')
        .replaceAll(/q:(plain|ours)/g, 'q:Q');
    expect(strip(ours)).toEqual(strip(plain));
    expect(ours.completed).toHaveLength(3);
    expect(ours.hashes[0]).toMatchObject({ returnvalue: '{"ok":"parent"}' });
  });
});
