/**
 * A staged step's success applied by the pool's finish (lua/includes/staged-step.lua in
 * tasks/finish-plain-job.lua), against a real Redis: a run started with staged releases
 * (src/store/workflows/staged-steps.ts), its first step's task taken and finished by a BullMQ
 * Worker on our backend (src/store/bullmq/task-backend.ts), driven by hand (getNextJob, then
 * moveToCompleted / moveToFailed, as BullMQ documents for manual processing) so that the job the
 * finish hands back is seen. When the staged record applies, the finish records the outcome, adds
 * the dependent's task, queues its step and writes no workflow inbox entry; in every other case
 * (no record, a cancelled run, a failure) it writes the inbox entry as before and leaves the
 * run to the engine (here: step-done called as the engine calls it).
 */
import { createHash } from 'node:crypto';
import { Job, QueueKeys, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { pack, unpack } from 'msgpackr';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { keys as keyLayout } from '../src/store/keys.js';
import { StepDoneCode } from '../src/store/codes.js';
import { defineTaskCommands, PendingOutcomes, PendingStarts, taskBackend } from '../src/store/bullmq/task-backend.js';
import { startRun, type NewRun } from '../src/store/workflows/start-run.js';
import { stagedStep } from '../src/store/workflows/staged-steps.js';
import { markQueued } from '../src/store/workflows/mark-queued.js';
import { cancelRun } from '../src/store/workflows/cancel-run.js';
import { stepDone } from '../src/store/workflows/step-done.js';
import { submitTasks, type SubmitEntry } from '../src/store/tasks/submit-tasks.js';
import { stepOutcomeOf } from '../src/store/codecs/step-outcome.js';
import { parseResult, type TaskResultRecord } from '../src/store/codecs/feed-format.js';
import { scriptSource } from '../src/store/store-script.js';
import { startRedis, type RedisServerHandle } from './helpers/redis-server.js';

const keys = keyLayout('staged');
const runOpts = { eventsMaxLen: 1_000, runRetentionMs: 60_000 };
const CLS = 'cpu';
const queueKeys = new QueueKeys(keys.queuePrefixOf(CLS)).getKeys(CLS);
const sha = (name: string) => createHash('sha1').update(scriptSource(name)).digest('hex');

let server: RedisServerHandle;
let redis: Redis;
let bull: Redis;
let worker: Worker;
let outcomes: PendingOutcomes;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

beforeEach(async () => {
  await redis.flushall();
  await redis.script('FLUSH');
  await worker?.close();
  bull?.disconnect();
  bull = new Redis(server.url, { maxRetriesPerRequest: null });
  defineTaskCommands(bull);
  outcomes = new PendingOutcomes({ eventsMaxLen: 1_000, resultsMaxLen: 1_000 });
  const backend = taskBackend({ keys, outcomes, starts: new PendingStarts(), eventsMaxLen: 1_000, poolId: 'probe' });
  const opts = { connection: bull, prefix: keys.queuePrefixOf(CLS), name: 'probe', autorun: false, removeOnComplete: false, removeOnFail: false };
  worker = new Worker(CLS, null, opts as ConstructorParameters<typeof Worker>[2], backend);
});

/** Step `stepId`'s task of run `runId` as the engine submits it. */
const task = (runId: string, stepId: string, taskClass = CLS): SubmitEntry => ({
  taskId: `${runId}.${stepId}`,
  indexValue: `${taskClass}\tdg-${stepId}`,
  taskClass,
  queueKeys: taskClass === CLS ? queueKeys : new QueueKeys(keys.queuePrefixOf(taskClass)).getKeys(taskClass),
  workflowId: runId,
  delayMs: 0,
  job: { name: 'cmd', timestamp: 1, data: `{"payload":{"step":"${stepId}"},"workflowId":"${runId}"}`, opts: '{"attempts":1}' },
});

/** A fail_fast run of a then b (b depends on a alone, of class `bClass`), a's releases staged when `staged`. */
async function started(runId: string, staged: boolean, bClass = CLS): Promise<void> {
  const run: NewRun = {
    digest: runId,
    name: 'wf',
    version: 1,
    failurePolicy: 'fail_fast',
    inputsJson: '{}',
    steps: [
      { stepId: 'a', dependencies: 0 },
      { stepId: 'b', dependencies: 1 },
    ],
    ...(staged ? { staged: [stagedStep(keys, runOpts, 'a', ['b'], [task(runId, 'b', bClass)])] } : {}),
  };
  await startRun(redis, keys, runOpts)(runId, 1_000, run);
  // What the engine's release() does with a's task: submitted, then its step marked queued.
  const reply = await submitTasks(redis, keys, 1_000)([task(runId, 'a')]);
  expect(reply).toEqual({ kind: 'accepted', answers: ['created'] });
  expect(await markQueued(redis, keys, runOpts)(runId, 1_001, ['a'])).toEqual([]);
}

/** The result record a pool writes for its task's final outcome. */
const resultOf = (runId: string, stepId: string, state: 'succeeded' | 'failed'): TaskResultRecord => ({
  taskId: `${runId}.${stepId}`,
  taskClass: CLS,
  attempt: 1,
  atMs: 5_000,
  state,
  workflowId: runId,
  workerId: 'probe',
  durationMs: 3,
  ...(state === 'succeeded' ? { resultJson: `{"from":"${stepId}"}` } : { error: 'boom', errorCode: 'task_failed' }),
});

/** Takes the next job, which must be `taskId`, on token `token`. */
async function take(taskId: string, token: string): Promise<Job> {
  const job = (await worker.getNextJob(token, { block: false })) as Job | undefined;
  expect(job?.id).toBe(taskId);
  return job!;
}

/** Finishes `job` on `token` as a pool does with `r`; the id of the job the finish handed back, if any. */
async function finish(job: Job, token: string, r: TaskResultRecord): Promise<string | undefined> {
  outcomes.set(token, { type: r.state, taskId: r.taskId, taskClass: CLS, attempt: 1, atMs: r.atMs, workflowId: r.workflowId, workerId: 'probe' }, r);
  const next = (
    r.state === 'succeeded' ? await job.moveToCompleted(JSON.parse(r.resultJson!), token, true) : await job.moveToFailed(new Error(r.error), token, true)
  ) as unknown;
  // BullMQ's next job data: [job fields, job id, ...], empty when none was taken.
  return Array.isArray(next) && next[1] ? String(next[1]) : undefined;
}

/** Run `runId`'s entries of the events stream, as "<type>:<task or step>:<state>". */
async function eventsOf(runId: string): Promise<string[]> {
  return (await redis.xrange(keys.events, '-', '+'))
    .map(([, f]) => {
      const m: Record<string, string> = {};
      for (let i = 0; i + 1 < f.length; i += 2) m[f[i]!] = f[i + 1]!;
      return m;
    })
    .filter((e) => e.workflow_id === runId)
    .map((e) => (e.type.startsWith('workflow_') ? `${e.type}:${e.step_id ?? ''}:${e.state}` : `${e.type}:${e.task_id}`));
}

const inboxEntries = async () => (await redis.xrange(keys.workflowInbox, '-', '+')).map(([, f]) => parseResult(f));

/**
 * The finish of run `runId`'s step a took the old way: its step left queued for the engine and b
 * pending, its outcome on the inbox (as `state`), and no job of b's.
 */
async function expectOldPath(runId: string, state: 'succeeded' | 'failed' = 'succeeded'): Promise<void> {
  expect(await redis.hgetall(keys.runSteps(runId))).toEqual({ a: 'queued', b: 'pending' });
  expect((await inboxEntries()).filter((r) => r.taskId === `${runId}.a`).map((r) => r.state)).toEqual([state]);
  expect(await redis.exists(keys.job(CLS, `${runId}.b`))).toBe(0);
}

/** What the engine does with inbox entry `r` of step `stepId`: step-done with its outcome. */
function engineApplies(runId: string, stepId: string, r: TaskResultRecord, dependents: string[], downstream: string[]) {
  const o = stepOutcomeOf(r);
  return stepDone(redis, keys, runOpts)(runId, Date.now(), {
    stepId,
    state: o.state,
    attempt: o.attempt,
    outcomeJson: JSON.stringify(o),
    error: o.error ?? '',
    dependents,
    downstream,
  });
}

describe('a staged step finished by its pool', () => {
  it('records the outcome, adds the dependent’s task, queues its step and hands its job back as the next one; no inbox entry', async () => {
    await started('r1', true);
    const a = await take('r1.a', 'tok-a');
    // The finish took b's job for this worker in the same call.
    expect(await finish(a, 'tok-a', resultOf('r1', 'a', 'succeeded'))).toBe('r1.b');
    expect(await redis.script('EXISTS', sha('tasks/finish-plain-job'), sha('tasks/move-to-finished'))).toEqual([1, 0]);
    // No marker left to wake a blocked fetcher for a job already taken.
    expect(await redis.zscore(queueKeys.marker!, '0')).toBeNull();

    expect(await redis.hgetall(keys.runSteps('r1'))).toEqual({ a: 'succeeded', b: 'queued' });
    // The outcome as the engine would have stored it from the inbox entry.
    expect(await redis.hget(keys.runOutcomes('r1'), 'a')).toBe(JSON.stringify(stepOutcomeOf(resultOf('r1', 'a', 'succeeded'))));
    expect(await redis.hget(keys.run('r1'), 'open')).toBe('1');
    expect(await redis.hget(keys.runDeps('r1'), 'b')).toBe('0');
    expect(await redis.hexists(keys.runStaged('r1'), 'a')).toBe(0);
    expect(await redis.hget(keys.taskIndex('r1.b'), 'r1.b')).toMatch(/^cpu\tdg-b\t\d+-\d+$/);
    expect(JSON.parse((await redis.hget(keys.job(CLS, 'r1.b'), 'data'))!)).toEqual({ payload: { step: 'b' }, workflowId: 'r1' });
    expect(await inboxEntries()).toEqual([]);
    expect((await redis.xrange(keys.results, '-', '+')).map(([, f]) => parseResult(f).taskId)).toEqual(['r1.a']);
    expect(await eventsOf('r1')).toEqual([
      'workflow_run::running',
      'submitted:r1.a',
      'workflow_step:a:queued',
      'started:r1.a',
      'succeeded:r1.a',
      'workflow_step:a:succeeded',
      'submitted:r1.b',
      'workflow_step:b:queued',
      'started:r1.b',
    ]);
    // A job's creation time is its release's, not the run's start (the staged entry said 1).
    expect(Number(await redis.hget(keys.job(CLS, 'r1.b'), 'timestamp'))).toBeGreaterThan(1);
  });

  it('adds a dependent of another class to its own queue, waiting for that class’s pools, and hands back no job', async () => {
    const other = 'gpu';
    const otherKeys = new QueueKeys(keys.queuePrefixOf(other)).getKeys(other);
    await started('r8', true, other);
    const a = await take('r8.a', 'tok-a');
    expect(await finish(a, 'tok-a', resultOf('r8', 'a', 'succeeded'))).toBeUndefined();
    expect(await redis.hgetall(keys.runSteps('r8'))).toEqual({ a: 'succeeded', b: 'queued' });
    expect(await redis.lrange(otherKeys.wait!, 0, -1)).toEqual(['r8.b']);
    // Its class's marker is set, so that class's blocked fetchers wake for it.
    expect(await redis.zscore(otherKeys.marker!, '0')).not.toBeNull();
    expect(await redis.llen(queueKeys.wait!)).toBe(0);
    expect(await redis.hget(keys.taskIndex('r8.b'), 'r8.b')).toMatch(/^gpu\tdg-b\t\d+-\d+$/);
    expect(await inboxEntries()).toEqual([]);
  });

  it('without a staged record writes the inbox entry as before and changes nothing of the run', async () => {
    await started('r2', false);
    const a = await take('r2.a', 'tok-a');
    expect(await finish(a, 'tok-a', resultOf('r2', 'a', 'succeeded'))).toBeUndefined();
    await expectOldPath('r2');
    expect(await redis.hexists(keys.runOutcomes('r2'), 'a')).toBe(0);
  });

  it('of a cancelled run adds nothing and writes the inbox entry; the engine then ends the run', async () => {
    await started('r3', true);
    const a = await take('r3.a', 'tok-a');
    const cancel = await cancelRun(redis, keys, runOpts)('r3', 2_000, 'by hand');
    expect(cancel).toMatchObject({ state: 'running', cancel: ['a'] });
    expect(await finish(a, 'tok-a', resultOf('r3', 'a', 'succeeded'))).toBeUndefined();
    expect(await redis.hgetall(keys.runSteps('r3'))).toEqual({ a: 'queued', b: 'cancelled' });
    expect(await redis.exists(keys.job(CLS, 'r3.b'))).toBe(0);
    expect(await redis.hexists(keys.taskIndex('r3.b'), 'r3.b')).toBe(0);
    const [entry] = await inboxEntries();
    expect(entry?.taskId).toBe('r3.a');

    // The engine applies the entry: the run ends, its staged releases go with it.
    const done = stepDone(redis, keys, runOpts);
    const o = stepOutcomeOf(entry!);
    const reply = await done('r3', 6_000, {
      stepId: 'a',
      state: o.state,
      attempt: o.attempt,
      outcomeJson: JSON.stringify(o),
      error: '',
      dependents: ['b'],
      downstream: [],
    });
    expect(reply).toMatchObject({ code: StepDoneCode.Recorded, runEnded: true });
    expect(await redis.hget(keys.run('r3'), 'state')).toBe('cancelled');
    expect(await redis.exists(keys.runStaged('r3'))).toBe(0);
  });

  it('that failed takes the old path: inbox entry, no dependent; the engine’s fail_fast ends the run and its staged releases', async () => {
    await started('r4', true);
    const a = await take('r4.a', 'tok-a');
    expect(await finish(a, 'tok-a', resultOf('r4', 'a', 'failed'))).toBeUndefined();
    await expectOldPath('r4', 'failed');
    expect(await redis.hexists(keys.runStaged('r4'), 'a')).toBe(1);
    const [entry] = await inboxEntries();

    const reply = await engineApplies('r4', 'a', entry!, ['b'], ['b']);
    expect(reply).toMatchObject({ code: StepDoneCode.Recorded, runEnded: true });
    expect(await redis.hgetall(keys.runSteps('r4'))).toEqual({ a: 'failed', b: 'skipped' });
    expect(await redis.exists(keys.runStaged('r4'))).toBe(0);
  });

  it('whose dependent’s task id is already taken takes the old path (step-done would leave it releasing with no one to submit it)', async () => {
    await started('r5', true);
    await redis.hset(keys.taskIndex('r5.b'), 'r5.b', `${CLS}\tother\t1-0`);
    const a = await take('r5.a', 'tok-a');
    expect(await finish(a, 'tok-a', resultOf('r5', 'a', 'succeeded'))).toBeUndefined();
    await expectOldPath('r5');
  });

  it.each([
    ['not msgpack', 'r7a', () => Buffer.from([0xc1, 0x00])],
    ['another shape', 'r7b', () => pack(['b', 'no keys'])],
    [
      'job options that are not JSON',
      'r7c',
      (rec: unknown[]) => pack([rec[0], rec[1], (rec[2] as string[]).map((v) => (v === '{"attempts":1}' ? '{attempts' : v)), rec[3]]),
    ],
    [
      'a key index it does not have',
      'r7d',
      (rec: unknown[]) => pack([rec[0], rec[1], (rec[2] as string[]).map((v, i, all) => (i === all.length - 1 ? '999' : v)), rec[3]]),
    ],
  ] as const)('with a staged record changed in Redis (%s) takes the old path and writes everything a finish writes', async (_, runId, change) => {
    await started(runId, true);
    const rec = unpack((await redis.hgetBuffer(keys.runStaged(runId), 'a'))!) as unknown[];
    await redis.hset(keys.runStaged(runId), 'a', change(rec as never));
    const a = await take(`${runId}.a`, 'tok-a');
    expect(await finish(a, 'tok-a', resultOf(runId, 'a', 'succeeded'))).toBeUndefined();
    // BullMQ's part, the result and the inbox entry: the engine applies the outcome as without a record.
    expect(await redis.zscore(queueKeys.completed!, `${runId}.a`)).not.toBeNull();
    expect((await redis.xrange(keys.results, '-', '+')).map(([, f]) => parseResult(f).taskId)).toContain(`${runId}.a`);
    await expectOldPath(runId);
  });

  it('reaches the run’s end: the last step goes through the engine, and the run’s keys expire with the staged ones gone', async () => {
    await started('r6', true);
    const a = await take('r6.a', 'tok-a');
    expect(await finish(a, 'tok-a', resultOf('r6', 'a', 'succeeded'))).toBe('r6.b');
    // b's job came back locked with a's token (BullMQ's fetch of the next job takes the finishing one's).
    const b = await Job.fromId(worker as unknown as Parameters<typeof Job.fromId>[0], 'r6.b');
    expect(await finish(b!, 'tok-a', resultOf('r6', 'b', 'succeeded'))).toBeUndefined();
    // b has no dependents, so nothing was staged for it: its outcome goes to the engine.
    const [entry] = await inboxEntries();
    expect(entry?.taskId).toBe('r6.b');
    const reply = await engineApplies('r6', 'b', entry!, [], []);
    expect(reply).toMatchObject({ code: StepDoneCode.Recorded, runEnded: true });
    expect(await redis.hget(keys.run('r6'), 'state')).toBe('succeeded');
    for (const k of [keys.run('r6'), keys.runSteps('r6'), keys.runDeps('r6'), keys.runOutcomes('r6')]) expect(await redis.pttl(k)).toBeGreaterThan(0);
    expect(await redis.exists(keys.runStaged('r6'))).toBe(0);
    expect(await redis.zscore(keys.activeRuns, 'r6')).toBeNull();
  });
});
