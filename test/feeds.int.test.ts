/**
 * The events and results feeds over gRPC: filters, cursors, results that finished before the
 * call, trimming, and the Redis calls a look-up of a finished task makes.
 */
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState, type TaskEvent, type TaskResult } from '../src/client/orchestrator-client.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';
import { commandsNaming } from './helpers/redis-monitor.js';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startSystem({ toml: `${TEST_CONFIG_TOML}\n[streams]\neventsMaxLen = 100\nresultsMaxLen = 1000\n` });
  await sys.startPool({ classes: 'cpu_short:4,inproc:8' });
});
afterAll(async () => sys?.stop());

async function take<T>(it: AsyncIterable<T> & { cancel(): void }, n: number): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) {
    out.push(x);
    if (out.length === n) break;
  }
  return out;
}

describe('StreamTaskResults', () => {
  it('delivers a result that finished before the call', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'inproc', payload: { early: 'yes' } });
    await waitFor(async () => (await sys.client.getTaskStatus(taskId)).state === TaskState.TASK_STATE_SUCCEEDED);
    const [r] = await take(sys.client.streamTaskResults({ taskIds: [taskId] }), 1);
    expect(r!.taskId).toBe(taskId);
    expect(JSON.parse(r!.resultJson)).toEqual({ early: 'yes' });
  });

  it('resumes from a cursor with nothing missed and nothing repeated', async () => {
    // The step tasks of a workflow run: a selection of 60 by workflow id.
    const wf = `wf-resume-${Date.now()}`;
    const steps = Array.from({ length: 60 }, (_, i) => `s${i}`);
    await sys.client.createWorkflow({ name: 'resume', steps: steps.map((stepId) => ({ stepId, task: { taskClass: 'inproc', payload: { id: stepId } } })) });
    await sys.client.startWorkflowRun({ name: 'resume', runId: wf });
    const ids = steps.map((s) => `${wf}.${s}`);
    const first = await take(sys.client.streamTaskResults({ workflowId: wf }), 25);
    const rest = await take(sys.client.streamTaskResults({ workflowId: wf, cursor: first.at(-1)!.cursor }), 35);
    const all = [...first, ...rest].map((r: TaskResult) => r.taskId);
    expect(new Set(all).size).toBe(60);
    expect(all.sort()).toEqual([...ids].sort());
    expect(rest.every((r) => r.cursor > first.at(-1)!.cursor)).toBe(true);
  });

  it('closes when every named task has a result', async () => {
    const accepted = await sys.client.submitTasks([1, 2, 3].map((i) => ({ taskClass: 'inproc', payload: { i: String(i) } })));
    const got: string[] = [];
    for await (const r of sys.client.streamTaskResults({ taskIds: accepted.map((a) => a.taskId), closeWhenDone: true })) got.push(r.taskId);
    expect(got.sort()).toEqual(accepted.map((a) => a.taskId).sort());
  });

  it('rejects a bad cursor and an unknown class', async () => {
    await expect(take(sys.client.streamTaskResults({ cursor: 'yesterday' }), 1)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    await expect(take(sys.client.streamTaskResults({ taskClass: 'nope' }), 1)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });
});

/** One script call (EVALSHA: the scripts are loaded by then). */
const ONE_SCRIPT = expect.stringMatching(/^evalsha /i);

describe('a finished task costs one Redis call to answer', () => {
  let taskId: string;
  beforeAll(async () => {
    ({ taskId } = await sys.client.submitTask({ taskClass: 'inproc', payload: { rt: 'once' } }));
    await sys.client.waitForResult(taskId, { timeoutMs: 20_000 });
    // The results reader is running (its start reads the stream's end once, for every subscriber
    // to come), and the scripts are loaded: what is counted below is the steady state.
    await sys.client.waitForResult(taskId, { timeoutMs: 20_000 });
    await sys.client.getTaskStatus(taskId);
  });

  it('GetTaskStatus: one script call', async () => {
    const seen = await commandsNaming(sys.r, taskId, async () => expect((await sys.client.getTaskStatus(taskId)).state).toBe(TaskState.TASK_STATE_SUCCEEDED));
    expect(seen).toEqual([ONE_SCRIPT]);
  });

  it('waitForResult and StreamTaskResults: one script call each', async () => {
    const waited = await commandsNaming(sys.r, taskId, async () =>
      expect(JSON.parse((await sys.client.waitForResult(taskId)).resultJson)).toEqual({ rt: 'once' }),
    );
    expect(waited).toEqual([ONE_SCRIPT]);
    const streamed = await commandsNaming(sys.r, taskId, async () => {
      const got: TaskResult[] = [];
      for await (const r of sys.client.streamTaskResults({ taskIds: [taskId], closeWhenDone: true })) got.push(r);
      expect(got.map((r) => r.taskId)).toEqual([taskId]);
    });
    expect(streamed).toEqual([ONE_SCRIPT]);
  });

  it('a queued task: GetTaskStatus is one script call too', async () => {
    // No pool here serves cpu_long: the task stays queued.
    const { taskId: queued } = await sys.client.submitTask({ taskClass: 'cpu_long', payload: { rt: 'queued' } });
    const seen = await commandsNaming(sys.r, queued, async () => expect((await sys.client.getTaskStatus(queued)).state).toBe(TaskState.TASK_STATE_QUEUED));
    expect(seen).toEqual([ONE_SCRIPT]);
    await sys.client.cancelTask(queued);
  });
});

describe('StreamEvents', () => {
  it('streams lifecycle events filtered by type and task, each with task_id and attempt', async () => {
    // From the current end of the stream: deterministic, unlike "only new" racing the submit.
    const [[cursor] = ['0']] = await sys.r.xrevrange(sys.keys.events, '+', '-', 'COUNT', 1);
    const got = take(sys.client.streamEvents({ types: ['submitted', 'started', 'succeeded'], taskClasses: ['inproc'], cursor }), 3);
    const { taskId } = await sys.client.submitTask({ taskClass: 'inproc', payload: { e: '1' } });
    const list = (await got) as TaskEvent[];
    expect(list.map((e) => [e.type, e.taskId, e.attempt])).toEqual([
      ['submitted', taskId, 0],
      ['started', taskId, 1],
      ['succeeded', taskId, 1],
    ]);
  });

  it('resumes from a cursor', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'inproc', payload: { e: '2' } });
    await waitFor(async () => (await sys.client.getTaskStatus(taskId)).state === TaskState.TASK_STATE_SUCCEEDED);
    const all = await take(sys.client.streamEvents({ taskIds: [taskId], cursor: '0' }), 3);
    const after = await take(sys.client.streamEvents({ taskIds: [taskId], cursor: all[0]!.cursor }), 2);
    expect(after.map((e) => e.type)).toEqual(all.slice(1).map((e) => e.type));
  });

  it('rejects an unknown event type', async () => {
    await expect(take(sys.client.streamEvents({ types: ['exploded'] }), 1)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  it('keeps the events stream trimmed to its configured length', async () => {
    await sys.client.submitTasks(Array.from({ length: 400 }, (_, i) => ({ taskClass: 'inproc', payload: { t: String(i) } })));
    await waitFor(async () => Number((await sys.r.hget(sys.keys.counters, 'succeeded:inproc')) ?? 0) >= 400);
    // MAXLEN ~ trims whole stream nodes (100 entries each by default), so allow one node over.
    expect(await sys.r.xlen(sys.keys.events)).toBeLessThanOrEqual(300);
  });
});
