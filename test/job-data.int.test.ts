/**
 * The job data's key order is a contract with the Lua that reads it with patterns
 * (src/store/lua/includes/job-facts.lua): scheduleId right after timeoutMs, workflowId last.
 * These run that reader, in a real Redis, on what the codec writes, whatever order the object
 * was built in; and show that an object written in another order is misread, so a writer that
 * bypasses the codec is a bug this suite names.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_DATA_KEYS, jobDataJson, orderedJobData, type JobData } from '../src/store/codecs/job-data.js';
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
  it('keeps scheduleId right after timeoutMs and workflowId last in its key list', () => {
    expect(JOB_DATA_KEYS.indexOf('scheduleId')).toBe(JOB_DATA_KEYS.indexOf('timeoutMs') + 1);
    expect(JOB_DATA_KEYS.at(-1)).toBe('workflowId');
  });

  it.each([
    ['a plain task', { executor, payload, timeoutMs: 1000 }, [0, null, null]],
    ['a schedule’s task with a trace', { executor, payload, timeoutMs: 1000, scheduleId: 's-1', traceparent: '00-ab-cd-01' }, [0, null, 's-1']],
    ['a step task', { executor, payload, timeoutMs: 1000, workflowId: 'run-1' }, [0, 'run-1', null]],
    [
      'a retried step task of a schedule, built with workflowId first',
      { workflowId: 'run-2', attemptsBefore: 3, submittedAttempts: 2, scheduleId: 's-2', timeoutMs: 5, payload, executor },
      [3, 'run-2', 's-2'],
    ],
  ] as [string, JobData, [number, string | null, string | null]][])('the reader finds the facts of %s as the codec writes it', async (_, data, facts) => {
    const json = jobDataJson(data);
    expect(await luaFacts(json)).toEqual(facts);
    expect(JSON.parse(json)).toEqual(data);
  });

  it('keeps fields it does not know, before workflowId', async () => {
    const data = { workflowId: 'run-3', executor, payload, timeoutMs: 1, addedLater: 'x' } as JobData;
    const json = jobDataJson(data);
    expect(Object.keys(orderedJobData(data))).toEqual(['executor', 'payload', 'timeoutMs', 'addedLater', 'workflowId']);
    expect((await luaFacts(json))[1]).toBe('run-3');
  });

  it('a writer that bypasses the codec (workflowId not last, scheduleId apart from timeoutMs) is misread', async () => {
    const data: JobData = { workflowId: 'run-4', executor, scheduleId: 's-4', payload, timeoutMs: 1 };
    const [, wf, sched] = await luaFacts(JSON.stringify(data));
    expect(wf).not.toBe('run-4');
    expect(sched).not.toBe('s-4');
  });
});
