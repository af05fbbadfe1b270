/**
 * Submission admission against a real Redis and orchestrator: above the Redis memory high-water
 * mark (a fraction of maxmemory, or absolute bytes) submissions end RESOURCE_EXHAUSTED with a
 * retry hint while pools keep draining what was accepted, and are accepted again once memory is
 * back under; per-caller submit rate limits (token buckets counting tasks) refuse a caller over
 * its rate without touching another's.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrchestratorClient, ServingStatus, type TaskInput } from '../src/client/orchestrator-client.js';
import { grpcError } from './helpers/grpc.js';
import { getText, sample } from './helpers/http.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

const MIB = 1 << 20;

const usedMemory = async (sys: TestSystem) => Number(/^used_memory:(\d+)/m.exec(await sys.r.info('memory'))![1]);

/**
 * Grows a key by 1 MiB appends until Redis's used memory reaches `bytes`: one large SET would
 * need its whole value in a query buffer on top, and Redis near its maxmemory refuses it.
 */
async function fillTo(sys: TestSystem, bytes: number): Promise<void> {
  const chunk = 'x'.repeat(MIB);
  while ((await usedMemory(sys)) < bytes) await sys.r.append('filler', chunk);
}

const submissionsComponent = async (client: OrchestratorClient) => (await client.health()).components.find((c) => c.name === 'submissions');

function expectMemoryRefusal(err: ServiceError): void {
  expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
  expect(err.details).toMatch(/Redis memory .* is above the high-water mark .* \(redis\.memoryHighWaterMark\).*retry in about 5000 ms/);
  expect(err.metadata.get('retry-after-ms')).toEqual(['5000']);
}

describe('the Redis memory high-water mark (a fraction of maxmemory)', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startSystem({ toml: `${TEST_CONFIG_TOML}\n[redis]\nmemoryCheckIntervalMs = 100\n` });
  });
  afterAll(async () => sys?.stop());

  it('says in Health that there is no mark while Redis has no maxmemory', async () => {
    expect(await submissionsComponent(sys.client)).toMatchObject({
      status: ServingStatus.SERVING_STATUS_SERVING,
      detail: 'accepted: no Redis memory high-water mark',
    });
  });

  it('refuses submissions above the mark while pools drain, and accepts them again below it', async () => {
    // Accepted before the mark is reached; no pool yet, so they wait in their queue.
    const queued: TaskInput[] = Array.from({ length: 20 }, (_, i) => ({ taskId: `before-${i}`, taskClass: 'cpu_short', payload: { i: String(i) } }));
    await sys.client.submitTasks(queued);

    const maxmemory = (await usedMemory(sys)) + 32 * MIB;
    await sys.r.config('SET', 'maxmemory', String(maxmemory));
    const mark = Math.floor(maxmemory * 0.8);
    await waitFor(async () => (await submissionsComponent(sys.client))?.detail.includes('high-water mark'), { message: 'the mark never showed in Health' });

    // A filler key takes Redis past the mark (and stays below maxmemory: Redis itself still accepts writes).
    await fillTo(sys, mark + 2 * MIB);
    expect(await usedMemory(sys)).toBeLessThan(maxmemory);
    await waitFor(async () => (await submissionsComponent(sys.client))?.status === ServingStatus.SERVING_STATUS_DEGRADED, {
      message: 'Health never showed submissions refused',
    });
    const health = await sys.client.health();
    expect(health.status).toBe(ServingStatus.SERVING_STATUS_DEGRADED);
    expect((await submissionsComponent(sys.client))?.detail).toMatch(/^refused: Redis memory .* is above the high-water mark/);

    expectMemoryRefusal(await grpcError(sys.client.submitTask({ taskId: 'over-1', taskClass: 'cpu_short', payload: { n: '1' } })));
    expectMemoryRefusal(await grpcError(sys.client.submitTasks([{ taskId: 'over-2', taskClass: 'cpu_short', payload: { n: '1' } }])));
    expectMemoryRefusal(await grpcError(sys.client.startWorkflowRun({ name: 'none' })));
    expectMemoryRefusal(
      await grpcError(sys.client.createSchedule({ scheduleId: 's', everyMs: 60_000, task: { taskClass: 'cpu_short', payload: { n: '1' } } })),
    );
    expect(await sys.r.hexists(sys.keys.taskIndex('over-1'), 'over-1')).toBe(0);
    expect(await sys.r.hexists(sys.keys.taskIndex('over-2'), 'over-2')).toBe(0);
    // Reads go on.
    expect((await sys.client.getTaskStatus('before-0')).taskId).toBe('before-0');

    const metrics = (await getText(`${sys.httpUrl}/metrics`)).body;
    expect(sample(metrics, 'orq_submissions_held')).toBe(1);
    expect(sample(metrics, 'orq_redis_memory_high_water_mark_bytes')).toBe(mark);
    expect(sample(metrics, 'orq_redis_memory_max_bytes')).toBe(maxmemory);
    expect(sample(metrics, 'orq_redis_memory_used_bytes')).toBeGreaterThanOrEqual(mark);
    expect(sample(metrics, 'orq_submissions_refused_total', '{reason="memory"}')).toBe(4);

    // Pools are never held back: what was accepted drains while submissions are refused.
    await sys.startPool({ classes: 'cpu_short' });
    for (const t of queued) expect((await sys.client.waitForResult(t.taskId!, { timeoutMs: 30_000 })).taskId).toBe(t.taskId);
    expect((await submissionsComponent(sys.client))?.status).toBe(ServingStatus.SERVING_STATUS_DEGRADED);

    // Room again: accepted within a check interval or so.
    await sys.r.del('filler');
    await waitFor(async () => (await sys.client.submitTask({ taskId: 'after', taskClass: 'cpu_short', payload: { n: '1' } })).created, {
      timeoutMs: 5_000,
      message: 'submissions were never accepted again',
    });
    expect((await submissionsComponent(sys.client))?.status).toBe(ServingStatus.SERVING_STATUS_SERVING);
    expect(sample((await getText(`${sys.httpUrl}/metrics`)).body, 'orq_submissions_held')).toBe(0);
  });

  it('counts the tasks of every caller without tokens by address: two connections from one host share a bucket', async () => {
    // The default limit (10,000 per second, burst 50,000) is far from a test's load.
    const other = new OrchestratorClient(sys.addr);
    try {
      await expect(other.submitTask({ taskClass: 'cpu_short', payload: { n: '1' } })).resolves.toMatchObject({ created: true });
    } finally {
      other.close();
    }
    expect(sample((await getText(`${sys.httpUrl}/metrics`)).body, 'orq_submit_rate_buckets')).toBe(1);
  });
});

const TOKEN_A = 'token-a-0123456789abcdef';
const TOKEN_B = 'token-b-0123456789abcdef';
const TOKEN_FAST = 'token-fast-0123456789abcdef';
const TOKEN_FILE = 'token-file-0123456789abcdef';
const tokensFile = join(mkdtempSync(join(tmpdir(), 'orq-tokens-')), 'tokens');
writeFileSync(tokensFile, `# a loader with its own rate\n${TOKEN_FILE} submit submitRateLimit=1000/30\n`);

describe('per-caller submit rate limits (grpc.submitRateLimit) and an absolute high-water mark', () => {
  let sys: TestSystem;
  const clients: OrchestratorClient[] = [];
  const client = (token: string) => {
    const c = new OrchestratorClient(sys.addr, { token });
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    sys = await startSystem({
      toml: `${TEST_CONFIG_TOML}
[redis]
memoryCheckIntervalMs = 100
memoryHighWaterMarkBytes = ${64 * MIB}
[grpc]
submitRateLimit = { perSecond = 1, burst = 10 }
maxBatchSize = 100
[grpc.auth]
tokensFile = "${tokensFile}"
[[grpc.auth.tokens]]
token = "${TOKEN_A}"
role = "submit"
[[grpc.auth.tokens]]
token = "${TOKEN_B}"
role = "submit"
[[grpc.auth.tokens]]
token = "${TOKEN_FAST}"
role = "submit"
submitRateLimit = { perSecond = 1000, burst = 100 }
`,
    });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await sys?.stop();
  });

  const tasks = (tag: string, n: number): TaskInput[] =>
    Array.from({ length: n }, (_, i) => ({ taskId: `${tag}-${i}`, taskClass: 'cpu_short', payload: { n: '1' } }));

  it('takes a burst, refuses the next task with a retry hint, and accepts again after the refill', async () => {
    const a = client(TOKEN_A);
    await expect(a.submitTasks(tasks('a', 10))).resolves.toHaveLength(10);
    const err = await grpcError(a.submitTask({ taskId: 'a-next', taskClass: 'cpu_short', payload: { n: '1' } }));
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/over its submit rate of 1 tasks per second, burst 10 \(grpc\.submitRateLimit\); retry in about \d+ ms/);
    const retryAfter = Number(err.metadata.get('retry-after-ms')[0]);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(1_000);
    expect(await sys.r.hexists(sys.keys.taskIndex('a-next'), 'a-next')).toBe(0);
    // Every submission counts: a run or a schedule too (refused before anything is looked at).
    expect((await grpcError(a.startWorkflowRun({ name: 'none' }))).code).toBe(status.RESOURCE_EXHAUSTED);

    const started = Date.now();
    await waitFor(async () => (await a.submitTask({ taskId: 'a-next', taskClass: 'cpu_short', payload: { n: '1' } })).created, {
      timeoutMs: 5_000,
      intervalMs: 100,
      message: 'the bucket never refilled',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(retryAfter - 200);
  });

  it("keeps each token's bucket apart, and a token's own limit wins", async () => {
    await expect(client(TOKEN_B).submitTasks(tasks('b', 10))).resolves.toHaveLength(10);
    await expect(client(TOKEN_FAST).submitTasks(tasks('fast', 100))).resolves.toHaveLength(100);
    // A token of the tokens file, with its own rate there.
    await expect(client(TOKEN_FILE).submitTasks(tasks('file', 30))).resolves.toHaveLength(30);
    expect((await grpcError(client(TOKEN_FILE).submitTasks(tasks('file-more', 31)))).details).toMatch(/submit burst of 30/);
    expect((await grpcError(client(TOKEN_B).submitTask({ taskClass: 'cpu_short', payload: { n: '1' } }))).code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it('refuses for good a batch larger than the burst, naming the limit', async () => {
    const err = await grpcError(client(TOKEN_B).submitTasks(tasks('big', 11)));
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/11 tasks in one call is more than this caller's submit burst of 10 \(grpc\.submitRateLimit\): split the batch/);
    expect(err.metadata.get('retry-after-ms')).toEqual([]);
    // Over grpc.maxBatchSize it is the batch limit that answers, not the rate.
    const over = await grpcError(client(TOKEN_FAST).submitTasks(tasks('over', 101)));
    expect(over.details).toMatch(/101 tasks is over the batch limit of 100/);
    expect(sample((await getText(`${sys.httpUrl}/metrics`)).body, 'orq_submissions_refused_total', '{reason="rate"}')).toBeGreaterThanOrEqual(3);
  });

  it('holds submissions above memoryHighWaterMarkBytes on a Redis without maxmemory', async () => {
    const fast = client(TOKEN_FAST);
    await fillTo(sys, 65 * MIB);
    await waitFor(async () => (await submissionsComponent(fast))?.status === ServingStatus.SERVING_STATUS_DEGRADED, { message: 'never refused' });
    expectMemoryRefusal(await grpcError(fast.submitTask({ taskClass: 'cpu_short', payload: { n: '1' } })));
    await sys.r.del('filler');
    await waitFor(async () => (await fast.submitTask({ taskClass: 'cpu_short', payload: { n: '1' } })).created, {
      timeoutMs: 5_000,
      message: 'never accepted again',
    });
  });
});
