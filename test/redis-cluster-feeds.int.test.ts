/**
 * The feeds on a Redis Cluster of three masters: each class writes its own events and results
 * streams (src/store/keys.ts), and StreamEvents / StreamTaskResults merge them behind one opaque
 * cursor (src/feeds/feed-cursor.ts). A feed interrupted mid-way and resumed from the last item's
 * cursor delivers exactly the rest of every class's stream, entries written while it was away
 * included; a class filter reads only its class's stream. StreamWorkflowStatus follows the
 * workflow events stream and its steps' classes' streams.
 */
import { status } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StepState, TaskState, WorkflowRunState, type TaskEvent, type TaskInput } from '../src/client/orchestrator-client.js';
import { startRedisCluster, type RedisClusterHandle } from './helpers/redis-cluster.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
import { readUntilEnded, take } from './helpers/grpc-streams.js';
import { eventFields } from '../src/store/codecs/feed-format.js';

let cluster: RedisClusterHandle;
let sys: TestSystem<RedisClusterHandle>;
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  // A small per-stream buffer, so that a client that stops reading is ended soon (the last test).
  sys = await startSystem({ redis: cluster, toml: `${TEST_CONFIG_TOML}\n[grpc]\nstreamBufferEntries = 200\n` });
  await sys.startPool({ classes: 'inproc:8,cpu_short:4' });
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

const CLASSES = ['inproc', 'cpu_short'] as const;

/** `n` tasks of each class, ids `<tag>-<class>-<i>`. */
function batch(tag: string, n: number): TaskInput[] {
  return CLASSES.flatMap((taskClass) => Array.from({ length: n }, (_, i) => ({ taskClass, taskId: `${tag}-${taskClass}-${i}`, payload: { i: String(i) } })));
}

async function runAll(tasks: TaskInput[]): Promise<void> {
  await sys.client.submitTasks(tasks);
  for (const t of tasks) expect((await sys.client.waitForResult(t.taskId!, { timeoutMs: 30_000 })).state).toBe(TaskState.TASK_STATE_SUCCEEDED);
}

/** The stream names a composite cursor holds a position for. */
const cursorStreams = (cursor: string) =>
  Buffer.from(cursor.slice(3), 'base64url')
    .toString('utf8')
    .split(',')
    .map((p) => p.slice(0, p.indexOf('=')));

describe('feeds on a Redis Cluster', { timeout: 90_000 }, () => {
  it('writes each class to its own streams, and the merged feeds see all of both classes', async () => {
    const tasks = batch('split', 4);
    await runAll(tasks);
    const ids = tasks.map((t) => t.taskId!);
    for (const c of CLASSES) {
      const entries = await sys.r.xrange(sys.keys.eventsOf(c), '-', '+');
      const mine = entries.filter(([, f]) => ids.includes(f[3]!));
      expect(mine.length).toBe(12);
      expect(mine.every(([, f]) => f[5] === c)).toBe(true);
      expect(await sys.r.xlen(sys.keys.resultsOf(c))).toBeGreaterThanOrEqual(4);
    }
    // The one-stream names of a single Redis: workflow events only there, no results at all.
    expect(await sys.r.xlen(sys.keys.results)).toBe(0);
    expect((await sys.r.xrange(sys.keys.events, '-', '+')).filter(([, f]) => f[1] === 'submitted')).toEqual([]);

    const events = await take(sys.client.streamEvents({ taskIds: ids, cursor: '0' }), 24);
    expect(new Set(events.map((e) => `${e.taskId}/${e.type}`)).size).toBe(24);
    expect(new Set(events.map((e) => e.taskClass))).toEqual(new Set(CLASSES));
    expect(events.every((e) => e.cursor.startsWith('c1.'))).toBe(true);
    const results = await take(sys.client.streamTaskResults({ taskIds: ids, closeWhenDone: true }), 8);
    expect(results.map((r) => r.taskId).sort()).toEqual([...ids].sort());

    // One blocking reader per stream, each on the master of its stream's slot.
    for (const [name, key] of [
      ['orq-tail-events:inproc', sys.keys.eventsOf('inproc')],
      ['orq-tail-events:cpu_short', sys.keys.eventsOf('cpu_short')],
      ['orq-tail-results:inproc', sys.keys.resultsOf('inproc')],
    ]) {
      const node = new Redis({ host: '127.0.0.1', port: await cluster.masterOf(key!), lazyConnect: true });
      try {
        expect(String(await node.client('LIST'))).toContain(`name=${name} `);
      } finally {
        node.disconnect();
      }
    }

    // GetMetrics sums every class's stream.
    const m = (await sys.client.getMetrics()).metrics;
    expect(m.results_stream_length).toBeGreaterThanOrEqual(8);
    expect(m.events_stream_length).toBeGreaterThanOrEqual(24);
  });

  it('resumes StreamEvents from the last cursor with exactly the rest of both classes', async () => {
    const a = batch('ev-a', 6);
    const b = batch('ev-b', 6);
    const ids = [...a, ...b].map((t) => t.taskId!);
    await runAll(a);
    const key = (e: { taskId: string; type: string; attempt: number }) => `${e.taskId}/${e.type}/${e.attempt}`;
    // 36 events of batch a are there; stop after 15 of them.
    const first = await take(sys.client.streamEvents({ taskIds: ids, cursor: '0' }), 15);
    const cursor = first.at(-1)!.cursor;
    // A position for every stream of the feed: the workflow events' and every configured class's.
    expect(cursorStreams(cursor)).toEqual(expect.arrayContaining(['', ...CLASSES, 'gpu']));
    // Written while the client was away: batch b, both classes.
    await runAll(b);
    const expected = ids.length * 3;
    const rest = await take(sys.client.streamEvents({ taskIds: ids, cursor }), expected, (got) => first.length + got.length >= expected);
    const all = [...first, ...rest].map(key);
    expect(all.length).toBe(expected);
    expect(new Set(all).size).toBe(expected);
    for (const c of CLASSES) expect(rest.some((e) => e.taskClass === c)).toBe(true);
    // Nothing more of these tasks after the rest: a task run now is the next thing the feed says.
    const after = batch('ev-c', 1);
    await runAll(after);
    const tail = await take(sys.client.streamEvents({ taskIds: [...ids, ...after.map((t) => t.taskId!)], cursor: rest.at(-1)!.cursor }), 6);
    expect(tail.map((e) => e.taskId).every((id) => id.startsWith('ev-c-'))).toBe(true);
    expect(tail).toHaveLength(6);
  });

  it('resumes StreamTaskResults from the last cursor with exactly the rest of both classes', async () => {
    const a = batch('res-a', 5);
    const b = batch('res-b', 5);
    const ids = [...a, ...b].map((t) => t.taskId!);
    await runAll(a);
    const first = await take(sys.client.streamTaskResults({ taskIds: ids, cursor: '0' }), 4);
    await runAll(b);
    const rest = await take(sys.client.streamTaskResults({ taskIds: ids, cursor: first.at(-1)!.cursor }), ids.length - 4);
    const all = [...first, ...rest].map((r) => r.taskId);
    expect(all.sort()).toEqual([...ids].sort());
  });

  it('reads only the classes a filter names, and refuses a cursor of a class it does not have', async () => {
    const tasks = batch('filter', 3);
    await runAll(tasks);
    const ids = new Set(tasks.map((t) => t.taskId!));
    const only = await take(
      sys.client.streamEvents({ taskClasses: ['cpu_short'], cursor: '0' }),
      500,
      (got) => got.filter((e) => ids.has(e.taskId)).length >= 9,
    );
    expect(only.every((e) => e.taskClass === 'cpu_short')).toBe(true);
    expect(cursorStreams(only.at(-1)!.cursor)).toEqual(['cpu_short']);
    const results = await take(
      sys.client.streamTaskResults({ taskClass: 'inproc', cursor: '0' }),
      500,
      (got) => got.filter((r) => ids.has(r.taskId)).length >= 3,
    );
    expect(results.every((r) => r.taskClass === 'inproc')).toBe(true);
    expect(cursorStreams(results.at(-1)!.cursor)).toEqual(['inproc']);

    const forged = 'c1.' + Buffer.from('nope=1-0').toString('base64url');
    await expect(take(sys.client.streamEvents({ cursor: forged }), 1)).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/^cursor/),
    });
    await expect(take(sys.client.streamTaskResults({ cursor: 'c1.%%%' }), 1)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  it('streams a run whose steps run in two classes: each step is seen running, from its class stream, then done', async () => {
    await sys.client.createWorkflow({
      name: 'cluster-feeds-chain',
      steps: [
        { stepId: 'a', task: { taskClass: 'inproc', executor: { handler: 'sleep' }, payload: { ms: '800' } } },
        { stepId: 'b', dependsOn: ['a'], task: { taskClass: 'cpu_short', executor: { handler: 'sleep' }, payload: { ms: '800' } } },
      ],
    });
    const { runId } = await sys.client.startWorkflowRun({ name: 'cluster-feeds-chain' });
    const updates: { stepId: string; stepState: StepState; snapshot: boolean; cursor: string }[] = [];
    const stream = sys.client.streamWorkflowStatus(runId);
    for await (const u of stream) {
      updates.push(u);
      if (u.stepId === '' && u.runState === WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED) break;
    }
    stream.cancel();
    for (const step of ['a', 'b']) {
      const states = updates.filter((u) => u.stepId === step).map((u) => u.stepState);
      expect(states).toContain(StepState.STEP_STATE_RUNNING);
      expect(states.at(-1)).toBe(StepState.STEP_STATE_SUCCEEDED);
    }
    // b started after the stream began: its running came from cpu_short's events stream.
    expect(updates.some((u) => u.stepId === 'b' && u.stepState === StepState.STEP_STATE_RUNNING && !u.snapshot)).toBe(true);
    // Nothing said twice in a row (a class stream is followed from just before the snapshot).
    const said = updates.filter((u) => u.stepId).map((u) => `${u.stepId}/${u.stepState}`);
    expect(said.filter((x, i) => x === said[i - 1])).toEqual([]);
  });

  it('ends a client that stopped reading with its merged cursor, from which the rest of both classes follows once', async () => {
    const wf = `slow-${Date.now()}`;
    let n = 0;
    /** `k` progress events of run `wf` in each class's stream (one pipeline per stream: streams may be on different shards). */
    const write = async (k: number) => {
      for (const taskClass of CLASSES) {
        const p = sys.r.pipeline();
        for (let i = 0; i < k; i++) {
          const taskId = `${wf}-${n++}`;
          p.xadd(sys.keys.eventsOf(taskClass), '*', ...eventFields({ type: 'progress', taskId, taskClass, attempt: 1, atMs: Date.now(), workflowId: wf }));
        }
        for (const [err] of (await p.exec()) ?? []) if (err) throw err;
      }
    };
    await write(1);
    const it = sys.client.streamEvents({ workflowId: wf, cursor: '0' })[Symbol.asyncIterator]();
    const got: TaskEvent[] = [(await it.next()).value as TaskEvent];
    // The client stops reading; gRPC flow control holds the server back and its buffer fills.
    for (let i = 0; i < 8; i++) await write(400);
    const ended = await readUntilEnded(it, got);
    expect(ended?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(ended?.details).toMatch(/resume from the last cursor received \(the last one sent was c1\./);
    expect(got.length).toBeLessThan(n);
    const rest = await take(sys.client.streamEvents({ workflowId: wf, cursor: got.at(-1)!.cursor }), n, (r) => got.length + r.length >= n);
    const all = [...got, ...rest].map((e) => e.taskId);
    expect(all.length).toBe(n);
    expect(new Set(all).size).toBe(n);
  });
});
