/**
 * The job data's key order is a contract with the Lua that reads it with patterns
 * (src/store/lua/includes/job-facts.lua): scheduleId first, workflowId last, and nothing
 * depending on executor or timeoutMs, which a job stores only where its name and class do not
 * say them. These run that reader, in a real Redis, on what the codec writes, whatever order the
 * object was built in, with and without each optional field, and on data in the layout earlier
 * versions wrote (executor and timeoutMs always there, scheduleId right after timeoutMs); and
 * show that an object written in another order is misread, so a writer that bypasses the codec
 * is a bug this suite names.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executorInData, JOB_DATA_KEYS, jobDataJson, jobExecutor, jobNameOf, orderedJobData, type JobData } from '../src/store/codecs/job-data.js';
import { STORE_LUA_DIR } from '../src/store/store-script.js';
import { startRedis, type RedisServerHandle } from './helpers/redis-server.js';

let server: RedisServerHandle;
let redis: Redis;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

/** includes/job-facts.lua's jobFacts run on `json` in Redis: [attemptsBefore, workflowId, scheduleId]. */
async function luaFacts(json: string): Promise<[number, string | null, string | null]> {
  const lua = `${readFileSync(join(STORE_LUA_DIR, 'includes/job-facts.lua'), 'utf8')}
local before, wf, sched = jobFacts(ARGV[1])
return {tostring(before), wf or false, sched or false}`;
  const [before, wf, sched] = (await redis.eval(lua, 0, json)) as [string, string | null, string | null];
  return [Number(before), wf, sched];
}

const executor = { kind: 'handler', name: 'echo' };
// Payload values that look like the keys the reader looks for.
const payload = { a: ',"workflowId":"fake"}', b: ',"timeoutMs":1,"scheduleId":"fake"', c: ',"attemptsBefore":99' };

describe('job data codec and its Lua reader', () => {
  it('keeps scheduleId first and workflowId last in its key list', () => {
    expect(JOB_DATA_KEYS[0]).toBe('scheduleId');
    expect(JOB_DATA_KEYS.at(-1)).toBe('workflowId');
  });

  const optional = { executor, timeoutMs: 1000 };
  const cases: [string, JobData, [number, string | null, string | null]][] = [
    ['a plain task', { payload }, [0, null, null]],
    ['a schedule’s task with a trace', { payload, scheduleId: 's-1', traceparent: '00-ab-cd-01' }, [0, null, 's-1']],
    ['a step task', { payload, workflowId: 'run-1' }, [0, 'run-1', null]],
    [
      'a retried step task of a schedule, built with workflowId first',
      { workflowId: 'run-2', attemptsBefore: 3, submittedAttempts: 2, scheduleId: 's-2', payload },
      [3, 'run-2', 's-2'],
    ],
  ];
  const withEach = cases.flatMap(([what, data, facts]) => [
    [`${what}`, data, facts],
    [`${what}, with an executor`, { ...data, executor: optional.executor }, facts],
    [`${what}, with a timeout`, { ...data, timeoutMs: optional.timeoutMs }, facts],
    [`${what}, with both`, { ...data, ...optional }, facts],
  ]) as [string, JobData, [number, string | null, string | null]][];

  it.each(withEach)('the reader finds the facts of %s as the codec writes it', async (_, data, facts) => {
    const json = jobDataJson(data);
    expect(await luaFacts(json)).toEqual(facts);
    expect(JSON.parse(json)).toEqual(data);
  });

  it.each(cases)('the reader finds the facts of %s in the layout earlier versions wrote', async (_, data, facts) => {
    // Executor, payload and timeoutMs always, in that order, then scheduleId: as the codec wrote
    // jobs before scheduleId moved first. Such jobs stay queued across an upgrade.
    const { scheduleId, workflowId, ...rest } = data;
    const { payload: p, ...others } = rest;
    const old = { executor, payload: p, timeoutMs: 60_000, ...(scheduleId ? { scheduleId } : {}), ...others, ...(workflowId ? { workflowId } : {}) };
    const json = JSON.stringify(old);
    expect(json.startsWith('{"executor":')).toBe(true);
    expect(await luaFacts(json)).toEqual(facts);
  });

  it('keeps fields it does not know, before workflowId', async () => {
    const data = { workflowId: 'run-3', executor, payload, timeoutMs: 1, addedLater: 'x' } as JobData;
    const json = jobDataJson(data);
    expect(Object.keys(orderedJobData(data))).toEqual(['executor', 'payload', 'timeoutMs', 'addedLater', 'workflowId']);
    expect((await luaFacts(json))[1]).toBe('run-3');
  });

  it('a writer that bypasses the codec (workflowId not last, scheduleId not first) is misread', async () => {
    const data: JobData = { workflowId: 'run-4', payload, scheduleId: 's-4' };
    const [, wf, sched] = await luaFacts(JSON.stringify(data));
    expect(wf).not.toBe('run-4');
    expect(sched).not.toBe('s-4');
  });

  it('a payload key named like ours is not read as ours', async () => {
    const tricky = { scheduleId: 'fake', workflowId: 'fake', attemptsBefore: '7' };
    expect(await luaFacts(jobDataJson({ payload: tricky }))).toEqual([0, null, null]);
    expect(await luaFacts(jobDataJson({ payload: tricky, timeoutMs: 5 }))).toEqual([0, null, null]);
  });
});

describe('the executor a job carries', () => {
  it('is left out of the data when the job name says it all, and read back from the name', () => {
    const handler = { kind: 'handler', name: 'word-count' };
    expect(jobNameOf(handler)).toBe('handler:word-count');
    expect(executorInData('handler:word-count', handler)).toBe(false);
    expect(jobExecutor({ name: 'handler:word-count', data: { payload } })).toEqual(handler);
  });

  it('is kept in the data when the name does not say it', () => {
    const command = { kind: 'command', argv: ['true'], env: {}, cwd: '' };
    expect(executorInData(jobNameOf(command), command)).toBe(true);
    expect(executorInData('handler:other', executor)).toBe(true);
    expect(executorInData('handler:echo', { ...executor, extra: 1 })).toBe(true);
    expect(jobExecutor({ name: 'command', data: { executor: command, payload } })).toEqual(command);
  });

  it('of a job an earlier version queued is its data’s, whatever its name', () => {
    expect(jobExecutor({ name: 'handler:echo', data: { executor: { kind: 'handler', name: 'fail' }, payload } })).toEqual({ kind: 'handler', name: 'fail' });
  });

  it('is none for a job whose data and name name none', () => {
    expect(jobExecutor({ name: 'command', data: { payload } })).toBeUndefined();
    expect(jobExecutor({ name: 'injected', data: 'just a string' as unknown as JobData })).toBeUndefined();
  });
});
