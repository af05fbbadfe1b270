/**
 * Submission over gRPC: idempotency, bad input, batches and priority order. Real Redis, real
 * gRPC, real pool processes.
 */
import { status } from '@grpc/grpc-js';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState, toPbTask, type TaskInput } from '../src/client/orchestrator-client.js';
import type { BackoffType } from '../src/gen/orchestrator/v1/orchestrator.js';
import { toSubmission } from '../src/grpc/mapping.js';
import { jobOptionsForAdd } from '../src/store/codecs/job-data.js';
import { resolveTask } from '../src/tasks/task-spec.js';
import { EAGER_IN_FLIGHT, EAGER_ROUND, MAX_ROUND, TaskSubmitter } from '../src/tasks/submitter.js';
import { TaskQueues } from '../src/tasks/task-queues.js';
import { grpcError } from './helpers/grpc.js';
import { startSystem, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';
import { commandsSent } from './helpers/redis-monitor.js';
import { countIndexedTasks } from '../src/store/tasks/read-task-index.js';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => sys?.stop());

async function queuedJobs(): Promise<number> {
  let n = 0;
  for (const cls of sys.config.classes.keys()) {
    n += await sys.r.zcard(`${sys.keys.queuePrefix}:${cls}:prioritized`);
    n += await sys.r.llen(`${sys.keys.queuePrefix}:${cls}:wait`);
    n += await sys.r.zcard(`${sys.keys.queuePrefix}:${cls}:delayed`);
  }
  return n;
}

describe('SubmitTask', () => {
  it('is idempotent on task_id: same content returns the existing task', async () => {
    const t: TaskInput = { taskId: 'idem-1', taskClass: 'cpu_short', payload: { a: '1' } };
    const first = await sys.client.submitTask(t);
    const again = await sys.client.submitTask({ ...t, payload: { a: '1' } });
    expect(first).toMatchObject({ taskId: 'idem-1', created: true });
    expect(again).toMatchObject({ taskId: 'idem-1', created: false });
    const counts = await sys.r.hget(sys.keys.counters, 'submitted:cpu_short');
    expect(Number(counts)).toBeGreaterThanOrEqual(1);
    const events = await sys.r.xrange(sys.keys.events, '-', '+');
    expect(events.filter(([, f]) => f.includes('idem-1') && f.includes('submitted'))).toHaveLength(1);
  });

  it('answers ALREADY_EXISTS for the same id with other content, in any class', async () => {
    await sys.client.submitTask({ taskId: 'idem-2', taskClass: 'cpu_short', payload: { a: '1' } });
    const differentPayload = await grpcError(sys.client.submitTask({ taskId: 'idem-2', taskClass: 'cpu_short', payload: { a: '2' } }));
    expect(differentPayload.code).toBe(status.ALREADY_EXISTS);
    const differentClass = await grpcError(sys.client.submitTask({ taskId: 'idem-2', taskClass: 'cpu_long', payload: { a: '1' } }));
    expect(differentClass.code).toBe(status.ALREADY_EXISTS);
    expect(differentClass.details).toContain('cpu_short');
    const status2 = await sys.client.getTaskStatus('idem-2');
    expect(status2.taskClass).toBe('cpu_short');
  });

  it('rejects a backoff type it does not know, naming the field, enqueueing nothing', async () => {
    // The TS client cannot send one; an older or newer client of another language can.
    const before = await queuedJobs();
    const task = { ...toPbTask({ taskClass: 'cpu_short', payload: { a: '1' }, backoff: { delayMs: 100 } }), backoff: { type: 7 as BackoffType, delayMs: 100 } };
    const err = await grpcError(new Promise((resolve, reject) => sys.client.raw.submitTask({ task }, (e, r) => (e ? reject(e) : resolve(r)))));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.metadata.get('field')).toEqual(['task.backoff.type']);
    expect(err.details).toMatch(/unknown backoff type 7/);
    expect(await queuedJobs()).toBe(before);
  });

  it('generates an id when none is given', async () => {
    const a = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { a: '1' } });
    const b = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { a: '1' } });
    expect(a.taskId).not.toBe(b.taskId);
    expect(a.created && b.created).toBe(true);
  });

  it('goes on when Redis has forgotten our scripts (restarted, or SCRIPT FLUSH)', async () => {
    const a = await sys.client.submitTask({ taskClass: 'cpu_long', payload: { flush: 'before' } });
    await sys.r.script('FLUSH');
    const b = await sys.client.submitTask({ taskClass: 'cpu_long', payload: { flush: 'after' } });
    expect(b.created).toBe(true);
    expect((await sys.client.getTaskStatus(b.taskId)).state).toBe(TaskState.TASK_STATE_QUEUED);
    await sys.r.script('FLUSH');
    await sys.client.cancelTask(a.taskId);
    expect((await sys.client.getTaskStatus(a.taskId)).state).toBe(TaskState.TASK_STATE_CANCELLED);
  });

  it.each<[string, Partial<TaskInput>, string]>([
    ['unknown class', { taskClass: 'nope' }, 'task.task_class'],
    ['empty payload', { payload: {} }, 'task.payload'],
    ['oversized payload', { payload: { big: 'x'.repeat(1_100_000) } }, 'task.payload'],
    ['negative priority', { priority: -1 }, 'task.priority'],
    ['negative attempts', { maxAttempts: -1 }, 'task.max_attempts'],
    ['bad id characters', { taskId: 'a b/c' }, 'task.task_id'],
    ['a colon in the id (BullMQ refuses it)', { taskId: 'user:1' }, 'task.task_id'],
    ['an all-digit id (BullMQ refuses it)', { taskId: '12345' }, 'task.task_id'],
    ['empty argv', { executor: { command: { argv: [] } } }, 'task.executor.command.argv'],
  ])('rejects %s with INVALID_ARGUMENT naming the field, enqueueing nothing', async (_name, bad, field) => {
    const before = await queuedJobs();
    const indexBefore = await countIndexedTasks(sys.r, sys.keys);
    const err = await grpcError(sys.client.submitTask({ taskClass: 'cpu_short', payload: { a: '1' }, ...bad }));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toContain(field);
    expect(err.metadata.get('field')).toEqual([field]);
    expect(await queuedJobs()).toBe(before);
    expect(await countIndexedTasks(sys.r, sys.keys)).toBe(indexBefore);
  });
});

describe('SubmitTask calls in flight together', () => {
  /** The answer of one call, or the status it failed with. */
  const settled = (p: Promise<{ created: boolean }>) =>
    p.then(
      (r) => ({ created: r.created, code: status.OK }),
      (e: { code: number }) => ({ created: false, code: e.code }),
    );

  it('share script calls, each answered as if alone: created, existing, ALREADY_EXISTS', async () => {
    const tag = `burst-${Date.now()}`;
    await sys.client.submitTask({ taskId: `${tag}-taken`, taskClass: 'cpu_long', payload: { v: 'first' } });
    const indexBefore = await countIndexedTasks(sys.r, sys.keys);
    const calls: { name: string; task: TaskInput }[] = [
      ...Array.from({ length: 40 }, (_, i) => ({ name: 'new', task: { taskId: `${tag}-${i}`, taskClass: 'cpu_long', payload: { i: String(i) } } })),
      // The id is taken with other content: refused, and only this call.
      { name: 'taken', task: { taskId: `${tag}-taken`, taskClass: 'cpu_long', payload: { v: 'second' } } },
      // Five of one new task: one creates it, four find it.
      ...Array.from({ length: 5 }, () => ({ name: 'same', task: { taskId: `${tag}-same`, taskClass: 'cpu_long', payload: { v: 'same' } } })),
      // Two of one new id with different content: one creates it, the other is refused.
      { name: 'race', task: { taskId: `${tag}-race`, taskClass: 'cpu_long', payload: { v: 'a' } } },
      { name: 'race', task: { taskId: `${tag}-race`, taskClass: 'cpu_long', payload: { v: 'b' } } },
    ];
    let answers: { name: string; created: boolean; code: number }[] = [];
    const scriptCalls = await commandsSent(
      sys.r,
      (args) => /^eval/i.test(args[0]!) && args.some((a) => a.startsWith(tag)),
      async () => {
        answers = await Promise.all(calls.map(async (c) => ({ name: c.name, ...(await settled(sys.client.submitTask(c.task))) })));
      },
    );
    const of = (name: string) => answers.filter((a) => a.name === name);
    expect(of('new').every((a) => a.code === status.OK && a.created)).toBe(true);
    expect(of('taken')).toEqual([{ name: 'taken', created: false, code: status.ALREADY_EXISTS }]);
    expect(
      of('same')
        .map((a) => [a.code, a.created])
        .sort(),
    ).toEqual([
      [status.OK, false],
      [status.OK, false],
      [status.OK, false],
      [status.OK, false],
      [status.OK, true],
    ]);
    expect(
      of('race')
        .map((a) => a.code)
        .sort(),
    ).toEqual([status.OK, status.ALREADY_EXISTS].sort());
    expect(of('race').find((a) => a.code === status.OK)!.created).toBe(true);
    // 42 new tasks, each once in the index and in its queue.
    expect((await countIndexedTasks(sys.r, sys.keys)) - indexBefore).toBe(42);
    const waiting = await sys.r.lrange(`${sys.keys.queuePrefix}:cpu_long:wait`, 0, -1);
    expect(waiting.filter((id) => id.startsWith(tag) && id !== `${tag}-taken`).sort()).toEqual(
      [...Array.from({ length: 40 }, (_, i) => `${tag}-${i}`), `${tag}-same`, `${tag}-race`].sort(),
    );
    // Fewer script calls than calls: they were coalesced (a refused task costs one more call for the rest of its round).
    expect(scriptCalls.length).toBeLessThan(calls.length / 2);
    // Each task in one of them (the script call of the round it was sent in).
    const ids = new Set(calls.map((c) => c.task.taskId));
    const perCall = scriptCalls.map((line) => new Set(line.split(' ').filter((a) => ids.has(a))).size);
    expect(Math.max(...perCall)).toBeLessThanOrEqual(MAX_ROUND);
    expect(perCall.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(42);
  });

  it('go out in rounds: two of EAGER_ROUND at once, the rest together when the turn ends', async () => {
    const bull = new Redis(sys.redis.url, { maxRetriesPerRequest: null });
    try {
      const submitter = new TaskSubmitter({
        redis: sys.r,
        keys: sys.keys,
        queues: new TaskQueues({ redis: bull, keys: sys.keys, classes: sys.config.classes }),
        maxPayloadBytes: sys.config.grpc.maxPayloadBytes,
        maxBatchSize: sys.config.grpc.maxBatchSize,
        eventsMaxLen: sys.config.streams.eventsMaxLen,
      });
      const tag = `rounds-${Date.now()}`;
      const ids = new Set<string>();
      // Submissions made in one turn of the event loop, as calls decoded from one read of a socket.
      const burst = (n: number, from: number) =>
        Array.from({ length: n }, (_, i) => {
          const taskId = `${tag}-${from + i}`;
          ids.add(taskId);
          return submitter.submit({ taskId, taskClass: 'cpu_long', payload: { i: String(i) } });
        });
      const scriptCalls = await commandsSent(
        sys.r,
        (args) => /^eval/i.test(args[0]!) && args.some((a) => a.startsWith(tag)),
        async () => {
          expect((await Promise.all(burst(100, 0))).every((o) => o.created)).toBe(true);
          // Once those are answered, Redis is free again: the next full round goes at once too.
          expect((await Promise.all(burst(20, 100))).every((o) => o.created)).toBe(true);
        },
      );
      const sizes = scriptCalls.map((line) => new Set(line.split(' ').filter((a) => ids.has(a))).size);
      expect(EAGER_IN_FLIGHT).toBe(2);
      expect(sizes).toEqual([EAGER_ROUND, EAGER_ROUND, 100 - 2 * EAGER_ROUND, EAGER_ROUND, 20 - EAGER_ROUND]);
      expect(await sys.r.llen(`${sys.keys.queuePrefix}:cpu_long:wait`)).toBeGreaterThanOrEqual(120);
    } finally {
      await bull.quit();
    }
  });

  it('are each answered when Redis fails after the claim: none is left waiting', async () => {
    // An existing task whose job was removed: the submit script finds it claimed, and the front
    // end then looks for its job (EXISTS, outside the script), which Redis refuses here.
    const tag = `settle-${Date.now()}`;
    const ids = [`${tag}-a`, `${tag}-b`, `${tag}-c`];
    for (const id of ids) await sys.client.submitTask({ taskId: id, taskClass: 'cpu_long', payload: { v: id } });
    for (const id of ids) await sys.r.del(sys.keys.job('cpu_long', id));
    await sys.r.call('ACL', 'SETUSER', 'default', '-exists');
    try {
      // A caller left waiting would end DEADLINE_EXCEEDED at the client's deadline instead.
      const answers = await Promise.all(ids.map((id) => settled(sys.client.submitTask({ taskId: id, taskClass: 'cpu_long', payload: { v: id } }))));
      expect(answers.map((a) => a.code)).toEqual(ids.map(() => status.INTERNAL));
    } finally {
      await sys.r.call('ACL', 'SETUSER', 'default', '+exists');
    }
    // Once Redis takes EXISTS again, the same calls add the missing jobs.
    for (const id of ids) expect((await sys.client.submitTask({ taskId: id, taskClass: 'cpu_long', payload: { v: id } })).created).toBe(false);
    for (const id of ids) expect(await sys.r.exists(sys.keys.job('cpu_long', id))).toBe(1);
  });
});

describe('SubmitTasks', () => {
  it('rejects the whole batch when one task is bad, naming its index', async () => {
    const before = await queuedJobs();
    const tasks: TaskInput[] = Array.from({ length: 10 }, (_, i) => ({ taskClass: 'cpu_short', payload: { i: String(i) } }));
    tasks[7] = { ...tasks[7]!, priority: 5000 };
    const err = await grpcError(sys.client.submitTasks(tasks));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toContain('tasks[7].priority');
    expect(await queuedJobs()).toBe(before);
  });

  it('rejects the whole batch when one id exists with other content', async () => {
    await sys.client.submitTask({ taskId: 'batch-conflict', taskClass: 'cpu_short', payload: { a: '1' } });
    const indexBefore = await countIndexedTasks(sys.r, sys.keys);
    const err = await grpcError(
      sys.client.submitTasks([
        { taskId: 'batch-new-1', taskClass: 'cpu_short', payload: { a: '1' } },
        { taskId: 'batch-conflict', taskClass: 'cpu_short', payload: { a: 'other' } },
      ]),
    );
    expect(err.code).toBe(status.ALREADY_EXISTS);
    expect(await countIndexedTasks(sys.r, sys.keys)).toBe(indexBefore);
    await expect(sys.client.getTaskStatus('batch-new-1')).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it('runs a batch of 1,000 tasks to completion, each exactly once', async () => {
    const tasks: TaskInput[] = Array.from({ length: 1000 }, (_, i) => ({ taskId: `bulk-${i}`, taskClass: 'inproc', payload: { i: String(i) } }));
    const accepted = await sys.client.submitTasks(tasks);
    expect(accepted).toHaveLength(1000);
    expect(accepted.every((a, i) => a.taskId === `bulk-${i}` && a.created)).toBe(true);
    const pool = await sys.startPool({ classes: 'inproc:16' });
    const seen = new Map<string, number>();
    for await (const r of sys.client.streamTaskResults({ taskIds: accepted.map((a) => a.taskId), closeWhenDone: true })) {
      expect(r.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
      seen.set(r.taskId, (seen.get(r.taskId) ?? 0) + 1);
    }
    expect(seen.size).toBe(1000);
    const results = await sys.r.xrange(sys.keys.results, '-', '+');
    const bulk = results.filter(([, f]) => f[1]!.startsWith('bulk-'));
    expect(bulk).toHaveLength(1000);
    pool.kill('SIGTERM');
    expect(await pool.exited).toBe(0);
  });

  it('runs higher priority first within a class', async () => {
    // One slot, queued before the pool starts: the order they run in is the priority order.
    const prios = [0, 500, 10, 1000, 500, 3];
    const tasks: TaskInput[] = prios.map((p, i) => ({ taskId: `prio-${i}`, taskClass: 'cpu_long', priority: p, payload: { p: String(p) } }));
    await sys.client.submitTasks(tasks);
    const pool = await sys.startPool({ classes: 'cpu_long:1' });
    await waitFor(async () =>
      (await Promise.all(tasks.map((t) => sys.client.getTaskStatus(t.taskId!)))).every((s) => s.state === TaskState.TASK_STATE_SUCCEEDED),
    );
    const starts = (await sys.r.xrange(sys.keys.events, '-', '+'))
      .map(([, f]) => f)
      .filter((f) => f[1] === 'started' && f[3]!.startsWith('prio-'))
      .map((f) => f[3]);
    expect(starts).toEqual(['prio-3', 'prio-1', 'prio-4', 'prio-2', 'prio-5', 'prio-0']);
    pool.kill('SIGTERM');
    await pool.exited;
  });
});

describe('jobs as BullMQ stores them', () => {
  // The claim script adds each job with BullMQ's own add code (src/store/codecs/job-data.ts): the
  // stored job must be the one Queue.add would have stored. gpu_slurm: no pool of this file
  // serves it, so the jobs stay queued.
  const fields = async (id: string) => {
    const h = await sys.r.hgetall(sys.keys.job('gpu_slurm', id));
    const { timestamp, data, opts, ...rest } = h;
    expect(Number(timestamp)).toBeGreaterThan(0);
    return { ...rest, data: JSON.parse(data!) as unknown, opts: JSON.parse(opts!) as unknown };
  };

  it.each<[string, Partial<TaskInput>]>([
    ['prioritised, exponential backoff, timeout', { priority: 7, maxAttempts: 4, backoff: { type: 'exponential', delayMs: 250 }, timeoutMs: 5000 }],
    ['default priority and attempts', {}],
    ['handler with class defaults', { executor: { handler: 'echo' } }],
    ['delayed', { delayMs: 60_000, priority: 3 }],
  ])('stores a %s job exactly as Queue.add does, without its id in the options', async (_, extra) => {
    const input: TaskInput = { taskClass: 'gpu_slurm', payload: { a: '1', b: 'two' }, executor: { command: { argv: ['true'] } }, ...extra };
    const ours = (await sys.client.submitTask(input)).taskId;
    const t = resolveTask(toSubmission({ ...toPbTask(input), taskId: `${ours}-bull` }, 'task'), {
      classes: sys.config.classes,
      maxPayloadBytes: 1 << 20,
      field: 'task',
    });
    const queue = new Queue('gpu_slurm', { connection: sys.r.duplicate(), prefix: sys.keys.queuePrefix });
    try {
      await queue.add(t.jobName, t.data, jobOptionsForAdd(t));
    } finally {
      await queue.close();
      await queue.disconnect();
    }
    const [a, b] = [await fields(ours), await fields(`${ours}-bull`)];
    // Queue.add also keeps the id in the options; ours is only the job's key, where BullMQ's
    // Job.fromId and our scripts read it. Everything else is what Queue.add stores.
    expect(a.opts).not.toHaveProperty('jobId');
    expect((b.opts as { jobId?: string }).jobId).toBe(`${ours}-bull`);
    delete (b.opts as { jobId?: string }).jobId;
    expect(a).toEqual(b);
    // Only what the caller gave and the job name does not say (src/store/codecs/job-data.ts).
    const [data, opts] = [a.data as Record<string, unknown>, a.opts as Record<string, unknown>];
    expect('timeoutMs' in data).toBe(extra.timeoutMs !== undefined);
    expect('backoff' in opts).toBe(extra.backoff !== undefined);
    const handler = extra.executor && 'handler' in extra.executor ? extra.executor.handler : undefined;
    expect('executor' in data).toBe(handler === undefined);
    if (handler) expect((a as { name?: string }).name).toBe(`handler:${handler}`);
    // The same events on BullMQ's stream ("added", then "waiting" or "delayed").
    const bullEvents = async (id: string) =>
      (await sys.r.xrange(`${sys.keys.queuePrefix}:gpu_slurm:events`, '-', '+'))
        .map(([, f]) => f)
        .filter((f) => f[3] === id)
        .map((f) => f[1]);
    expect(await bullEvents(ours)).toEqual(await bullEvents(`${ours}-bull`));
    expect((await bullEvents(ours)).length).toBeGreaterThanOrEqual(2);
    // Priority 0 waits in the wait list (BullMQ's standard add), any other in the prioritized set.
    const where = extra.delayMs ? 'delayed' : extra.priority ? 'prioritized' : 'wait';
    const key = `${sys.keys.queuePrefix}:gpu_slurm:${where}`;
    for (const id of [ours, `${ours}-bull`]) {
      if (where === 'wait') expect(await sys.r.lpos(key, id)).not.toBeNull();
      else expect(await sys.r.zscore(key, id)).not.toBeNull();
    }
  });
});
