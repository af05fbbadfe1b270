/**
 * The workflow store's scripts (src/store/workflows/, src/store/lua/workflows/) called directly
 * against a real Redis: what each typed function returns for each of its codes, what it writes
 * (run and step states, the releasing zset, the events), and the definition JSON's field order
 * that create-workflow.lua relies on. The workflow engine's suites (workflows.int,
 * workflows.chaos) cover the same scripts end to end.
 */
import { QueueKeys } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys as keyLayout } from '../src/store/keys.js';
import { CancelRunCode, RetakeCode, StartRunCode, StepDoneCode } from '../src/store/codes.js';
import { createWorkflow, DEFINITION_OPENING } from '../src/store/workflows/create-workflow.js';
import { startRun, type NewRun } from '../src/store/workflows/start-run.js';
import { stepDone, type StepDoneReply } from '../src/store/workflows/step-done.js';
import { markQueued } from '../src/store/workflows/mark-queued.js';
import { cancelRun } from '../src/store/workflows/cancel-run.js';
import { retakeStep } from '../src/store/workflows/retake-step.js';
import { takeOverInbox } from '../src/store/workflows/take-over-inbox.js';
import { ackInboxEntries, ensureInboxGroup } from '../src/store/workflows/inbox-group.js';
import type { SubmitEntry } from '../src/store/tasks/submit-tasks.js';
import { startRedis, type RedisServerHandle } from './helpers/redis-server.js';

const keys = keyLayout('storewf');
const inbox = { key: keys.workflowInbox, dead: keys.workflowInboxDead };
const runOpts = { eventsMaxLen: 1_000, runRetentionMs: 60_000 };

let server: RedisServerHandle;
let redis: Redis;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

/** The events of run `runId` as field maps, oldest first. */
async function eventsOf(runId: string): Promise<Record<string, string>[]> {
  const entries = await redis.xrange(keys.events, '-', '+');
  return entries
    .map(([, f]) => {
      const m: Record<string, string> = {};
      for (let i = 0; i + 1 < f.length; i += 2) m[f[i]!] = f[i + 1]!;
      return m;
    })
    .filter((e) => e.workflow_id === runId);
}

/** step-done's Recorded reply: nothing released, cancelled, queued or acknowledged, but `r`. */
const recorded = (r: Partial<Extract<StepDoneReply, { code: StepDoneCode.Recorded }>>): StepDoneReply => ({
  code: StepDoneCode.Recorded,
  released: [],
  cancel: [],
  runEnded: false,
  releasing: [],
  queued: [],
  acked: false,
  ...r,
});

/** A fail_fast run of a, then `dependents` each depending on a alone. */
const runOf = (digest: string, dependents: string[]): NewRun => ({
  digest,
  name: 'wf',
  version: 1,
  failurePolicy: 'fail_fast',
  inputsJson: '{"x":"1"}',
  steps: [{ stepId: 'a', dependencies: 0 }, ...dependents.map((stepId) => ({ stepId, dependencies: 1 }))],
});
const twoSteps = (digest = 'd1'): NewRun => runOf(digest, ['b']);

describe('create-workflow', () => {
  it('numbers versions 1, 2, ... and writes the number into the stored definition', async () => {
    const create = createWorkflow(redis, keys);
    const def = (d: string) => `${DEFINITION_OPENING}"name":"w","description":"${d}"}`;
    expect(await create('w', def('one'))).toBe(1);
    expect(await create('w', def('two'))).toBe(2);
    expect(JSON.parse((await redis.hget(keys.workflow('w'), '2'))!)).toEqual({ version: 2, name: 'w', description: 'two' });
    expect(await redis.hget(keys.workflow('w'), 'latest')).toBe('2');
    expect(await redis.zscore(keys.workflows, 'w')).toBe('2');
  });

  it('refuses a definition whose version is not its first field, writing nothing', async () => {
    const create = createWorkflow(redis, keys);
    await expect(create('v', '{"name":"v","version":0}')).rejects.toThrow(DEFINITION_OPENING);
    expect(await redis.exists(keys.workflow('v'))).toBe(0);
  });
});

describe('run scripts', () => {
  it('start-run: Created with the steps released, then Exists for the same content, Conflict for other', async () => {
    const start = startRun(redis, keys, runOpts);
    expect(await start('r1', 1_000, twoSteps())).toEqual({ code: StartRunCode.Created, released: ['a'] });
    expect(await redis.hgetall(keys.runSteps('r1'))).toEqual({ a: 'releasing', b: 'pending' });
    expect(await redis.hget(keys.runDeps('r1'), 'b')).toBe('1');
    expect(await redis.zscore(keys.releasing, 'r1\ta')).toBe('1000');
    expect(await redis.zscore(keys.activeRuns, 'r1')).toBe('1000');
    expect(await redis.zscore(keys.runIndex, 'r1')).toBe('1000');
    const h = await redis.hgetall(keys.run('r1'));
    expect(h).toMatchObject({ name: 'wf', version: '1', policy: 'fail_fast', state: 'running', open: '2', failed: '0', inputs: '{"x":"1"}' });
    expect(await eventsOf('r1')).toEqual([{ type: 'workflow_run', task_id: '', attempt: '0', at: '1000', workflow_id: 'r1', state: 'running' }]);

    expect(await start('r1', 2_000, twoSteps())).toEqual({ code: StartRunCode.Exists, state: 'running' });
    expect(await start('r1', 2_000, twoSteps('other'))).toEqual({ code: StartRunCode.Conflict, name: 'wf' });
    expect(await eventsOf('r1')).toHaveLength(1);
  });

  it('retake-step: of two sweepers exactly one takes a step left releasing; a fresh one is left alone', async () => {
    const retake = retakeStep(redis, keys, runOpts);
    expect(await retake('r1', 3_000, 'a', 500)).toBe(RetakeCode.NotTaken);
    const both = await Promise.all([retake('r1', 3_000, 'a', 2_000), retake('r1', 3_000, 'a', 2_000)]);
    expect(both.sort()).toEqual([RetakeCode.NotTaken, RetakeCode.Taken]);
    expect(await redis.zscore(keys.releasing, 'r1\ta')).toBe('3000');
  });

  it('mark-queued, then step-done releases the dependent, applies once, and ends the run with the last step', async () => {
    const queued = markQueued(redis, keys, runOpts);
    const done = stepDone(redis, keys, runOpts);
    expect(await queued('r1', 4_000, ['a'])).toEqual([]);
    expect(await redis.hget(keys.runSteps('r1'), 'a')).toBe('queued');
    expect(await redis.zscore(keys.releasing, 'r1\ta')).toBeNull();

    const outcome = (state: string) => ({ stepId: 'a', state, attempt: 1, outcomeJson: `{"state":"${state}"}`, error: '', dependents: ['b'], downstream: [] });
    expect(await done('r1', 5_000, outcome('succeeded'))).toEqual(recorded({ released: ['b'] }));
    expect(await done('r1', 5_001, outcome('succeeded'))).toEqual({ code: StepDoneCode.NotRecorded, cancel: [], acked: false });
    expect(await done('r1', 5_001, { ...outcome('succeeded'), stepId: 'nope' })).toEqual({ code: StepDoneCode.NotRecorded, cancel: [], acked: false });

    await queued('r1', 6_000, ['b']);
    const last = { stepId: 'b', state: 'succeeded', attempt: 1, outcomeJson: '{}', error: '', dependents: [], downstream: [] };
    expect(await done('r1', 7_000, last)).toEqual(recorded({ runEnded: true }));
    expect(await redis.hget(keys.run('r1'), 'state')).toBe('succeeded');
    expect(await redis.zscore(keys.activeRuns, 'r1')).toBeNull();
    for (const k of [keys.run('r1'), keys.runSteps('r1'), keys.runDeps('r1'), keys.runOutcomes('r1')]) expect(await redis.pttl(k)).toBeGreaterThan(0);
    expect((await eventsOf('r1')).map((e) => `${e.type}:${e.step_id ?? ''}:${e.state}`)).toEqual([
      'workflow_run::running',
      'workflow_step:a:queued',
      'workflow_step:a:succeeded',
      'workflow_step:b:queued',
      'workflow_step:b:succeeded',
      'workflow_run::succeeded',
    ]);
  });

  it('cancel-run: Missing for no run, nothing for a finished one, the queued steps to cancel for a running one', async () => {
    const cancel = cancelRun(redis, keys, runOpts);
    expect(await cancel('none', 1, 'x')).toEqual({ code: CancelRunCode.Missing });
    expect(await cancel('r1', 8_000, 'x')).toEqual({ code: CancelRunCode.Found, state: 'succeeded', cancel: [], releasing: [] });

    await startRun(redis, keys, runOpts)('r2', 9_000, twoSteps());
    await markQueued(redis, keys, runOpts)('r2', 9_001, ['a']);
    expect(await cancel('r2', 9_002, 'by hand')).toEqual({ code: CancelRunCode.Found, state: 'running', cancel: ['a'], releasing: [] });
    expect(await redis.hgetall(keys.runSteps('r2'))).toEqual({ a: 'queued', b: 'cancelled' });
    expect(await redis.hget(keys.run('r2'), 'stop_reason')).toBe('cancelled: by hand');
    // Cancelled again while its task stops: the queued step is handed back again.
    expect(await cancel('r2', 9_003, 'again')).toEqual({ code: CancelRunCode.Found, state: 'running', cancel: ['a'], releasing: [] });
    const a = { stepId: 'a', state: 'cancelled', attempt: 1, outcomeJson: '{}', error: 'cancelled', dependents: ['b'], downstream: ['b'] };
    expect(await stepDone(redis, keys, runOpts)('r2', 9_004, a)).toEqual(recorded({ runEnded: true }));
    expect(await redis.hget(keys.run('r2'), 'state')).toBe('cancelled');

    // A step cancelled while being released is handed back to cancel, and named as releasing:
    // its task may not be added yet (on a cluster, WorkflowRuns marks it cancelled first).
    await startRun(redis, keys, runOpts)('r3', 9_100, twoSteps());
    expect(await redis.hget(keys.runSteps('r3'), 'a')).toBe('releasing');
    expect(await cancel('r3', 9_101, 'early')).toEqual({ code: CancelRunCode.Found, state: 'cancelled', cancel: ['a'], releasing: ['a'] });
    expect(await redis.hgetall(keys.runSteps('r3'))).toEqual({ a: 'cancelled', b: 'cancelled' });
  });
});

describe("step-done with its dependents' tasks and its inbox entry (single Redis)", () => {
  const taskClass = 'cpu';
  const queue = new QueueKeys(keys.queuePrefixOf(taskClass)).getKeys(taskClass);
  const task = (taskId: string): SubmitEntry => ({
    taskId,
    indexValue: `${taskClass}\tdg`,
    taskClass,
    queueKeys: queue,
    workflowId: taskId.split('.')[0],
    delayMs: 0,
    job: { name: 'cmd', timestamp: 1, data: '{"n":1}', opts: '{"attempts":2}' },
  });
  const fanOut = (): NewRun => runOf('d', ['b', 'c']);
  /** An inbox entry read by consumer "c" of group "eng" (pending). */
  async function pendingEntry(): Promise<string> {
    await ensureInboxGroup(redis, inbox, 'eng');
    const id = (await redis.xadd(keys.workflowInbox, '*', 'task_id', 'x'))!;
    await redis.xreadgroup('GROUP', 'eng', 'c', 'COUNT', 100, 'STREAMS', keys.workflowInbox, '>');
    return id;
  }
  const succeeded = (entry: string, tasks: SubmitEntry[]) => ({
    stepId: 'a',
    state: 'succeeded',
    attempt: 1,
    outcomeJson: '{"state":"succeeded"}',
    error: '',
    dependents: ['b', 'c'],
    downstream: [],
    inbox: { key: keys.workflowInbox, group: 'eng', entry },
    tasks,
  });

  it("adds a released step's task given with it and queues the step in the same call; the others are left releasing; the entry is acknowledged", async () => {
    await startRun(redis, keys, runOpts)('r5', 10_000, fanOut());
    await markQueued(redis, keys, runOpts)('r5', 10_001, ['a']);
    const entry = await pendingEntry();
    expect(await stepDone(redis, keys, runOpts)('r5', 10_002, succeeded(entry, [task('r5.b')]))).toEqual(
      recorded({ released: ['c'], queued: ['b'], acked: true }),
    );
    expect(await redis.hgetall(keys.runSteps('r5'))).toEqual({ a: 'succeeded', b: 'queued', c: 'releasing' });
    expect(await redis.zrange(keys.releasing, 0, -1)).toContain('r5\tc');
    expect(await redis.zrange(keys.releasing, 0, -1)).not.toContain('r5\tb');
    // The task as the submit script adds it: index value with its list entry, job in the wait list.
    expect(await redis.hget(keys.taskIndex('r5.b'), 'r5.b')).toMatch(/^cpu\tdg\t\d+-\d+$/);
    expect(await redis.lrange(queue.wait!, 0, -1)).toEqual(['r5.b']);
    expect(await redis.hget(keys.job(taskClass, 'r5.b'), 'data')).toBe('{"n":1}');
    expect((await eventsOf('r5')).map((e) => `${e.type}:${e.task_id}:${e.state ?? ''}`)).toEqual([
      'workflow_run::running',
      'workflow_step:r5.a:queued',
      'workflow_step:r5.a:succeeded',
      'submitted:r5.b:',
      'workflow_step:r5.b:queued',
    ]);
    expect(await redis.xrange(keys.workflowInbox, entry, entry)).toEqual([]);
    expect((await redis.xpending(keys.workflowInbox, 'eng'))[0]).toBe(0);
  });

  it('leaves a step whose task id the index already holds releasing, adding nothing', async () => {
    await startRun(redis, keys, runOpts)('r6', 11_000, fanOut());
    await redis.hset(keys.taskIndex('r6.b'), 'r6.b', 'other\tx\t1-0');
    const entry = await pendingEntry();
    const reply = await stepDone(redis, keys, runOpts)('r6', 11_001, succeeded(entry, [task('r6.b'), task('r6.c')]));
    expect(reply).toMatchObject({ code: StepDoneCode.Recorded, released: ['b'], queued: ['c'], acked: true });
    expect(await redis.hget(keys.taskIndex('r6.b'), 'r6.b')).toBe('other\tx\t1-0');
    expect(await redis.exists(keys.job(taskClass, 'r6.b'))).toBe(0);
    expect(await redis.hgetall(keys.runSteps('r6'))).toEqual({ a: 'succeeded', b: 'releasing', c: 'queued' });
  });

  it('keeps the entry pending when steps are left to cancel (a fail_fast stop), and on a second application acknowledges it once nothing is', async () => {
    await startRun(redis, keys, runOpts)('r7', 12_000, fanOut());
    await redis.hset(keys.runSteps('r7'), 'b', 'queued');
    const entry = await pendingEntry();
    const failed = { ...succeeded(entry, []), state: 'failed', outcomeJson: '{"state":"failed"}', error: 'boom', downstream: ['b', 'c'] };
    const reply = await stepDone(redis, keys, runOpts)('r7', 12_001, failed);
    expect(reply).toMatchObject({ code: StepDoneCode.Recorded, cancel: ['b'], queued: [], acked: false });
    expect((await redis.xpending(keys.workflowInbox, 'eng'))[0]).toBe(1);
    // Applied again (taken over) while b's task still stops: b handed back again, entry kept.
    expect(await stepDone(redis, keys, runOpts)('r7', 12_002, failed)).toEqual({ code: StepDoneCode.NotRecorded, cancel: ['b'], acked: false });
    await redis.hset(keys.runSteps('r7'), 'b', 'cancelled');
    expect(await stepDone(redis, keys, runOpts)('r7', 12_003, failed)).toEqual({ code: StepDoneCode.NotRecorded, cancel: [], acked: true });
    expect((await redis.xpending(keys.workflowInbox, 'eng'))[0]).toBe(0);
  });
});

describe('inbox group', () => {
  it('is made once (again: no error) and acknowledges applied entries by deleting them', async () => {
    await ensureInboxGroup(redis, inbox, 'eng');
    await ensureInboxGroup(redis, inbox, 'eng');
    const id = await redis.xadd(keys.workflowInbox, '*', 'task_id', 'r8.a');
    await redis.xreadgroup('GROUP', 'eng', 'c', 'COUNT', 10, 'STREAMS', keys.workflowInbox, '>');
    await ackInboxEntries(redis, inbox, 'eng', [id!]);
    expect(await redis.xrange(keys.workflowInbox, id!, id!)).toEqual([]);
    expect(await redis.xpending(keys.workflowInbox, 'eng')).toEqual([0, null, null, null]);
    await redis.del(keys.workflowInbox);
  });
});

describe('take-over-inbox', () => {
  it('claims an entry another consumer left, then dead-letters it once it was delivered max_deliveries times', async () => {
    await redis.xgroup('CREATE', keys.workflowInbox, 'g', '0', 'MKSTREAM');
    const id = await redis.xadd(keys.workflowInbox, '*', 'task_id', 'r9.a', 'state', 'succeeded');
    await redis.xreadgroup('GROUP', 'g', 'gone', 'COUNT', 10, 'STREAMS', keys.workflowInbox, '>');
    const takeOver = (r: Parameters<ReturnType<typeof takeOverInbox>>[1]) => takeOverInbox(redis)(inbox, r);
    const req = { group: 'g', consumer: 'me', minIdleMs: 0, maxDeliveries: 2, count: 10, deadMaxLen: 100, start: '-' };

    const first = await takeOver(req);
    expect(first).toEqual({ dead: [], claimed: [[id, ['task_id', 'r9.a', 'state', 'succeeded']]], last: id, looked: 1 });

    const second = await takeOver(req);
    expect(second).toEqual({ dead: [[id, 2, ['task_id', 'r9.a', 'state', 'succeeded']]], claimed: [], last: id, looked: 1 });
    expect(await redis.xlen(keys.workflowInbox)).toBe(0);
    const [[, fields]] = (await redis.xrange(keys.workflowInboxDead, '-', '+')) as [[string, string[]]];
    expect(fields).toEqual(['inbox_id', id, 'deliveries', '2', 'task_id', 'r9.a', 'state', 'succeeded']);
    expect(await takeOver(req)).toEqual({ dead: [], claimed: [], last: '', looked: 0 });
  });
});
