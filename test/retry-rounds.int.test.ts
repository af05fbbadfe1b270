/**
 * Retries renew attempts, against a real Redis, pool and orchestrator: RetryTasks (and orchctl
 * retry, and Bull Board's Retry button through its HTTP API) gives a failed task a new round of
 * the attempts it was submitted with, or of the count the caller passes; a bad count is refused
 * with INVALID_ARGUMENT naming `attempts` and changes nothing. Attempt numbers go on counting
 * across rounds in GetTaskStatus (`attempt`), the events and the results, while attempts_made /
 * max_attempts count the round; the `requeued` event comes before the retried attempt's events.
 */
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState, type TaskEvent } from '../src/client/orchestrator-client.js';
import { fieldOf, grpcError } from './helpers/grpc.js';
import { orchctl } from './helpers/orchctl.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

const ADMIN_TOKEN = 'retry-admin-token-0123456789';
const VIEWER_TOKEN = 'retry-viewer-token-0123456789';
const TOML = `${TEST_CONFIG_TOML}
[[http.dashboard.tokens]]
token = "${ADMIN_TOKEN}"
role = "admin"
[[http.dashboard.tokens]]
token = "${VIEWER_TOKEN}"
`;

let sys: TestSystem;

beforeAll(async () => {
  sys = await startSystem({ toml: TOML });
  await sys.startPool({ classes: 'cpu_short:4' });
});
afterAll(async () => sys?.stop());

/** A task failing every attempt, `attempts` of them per round. */
async function failing(taskId: string, attempts: number): Promise<void> {
  await sys.client.submitTask({ taskId, taskClass: 'cpu_short', payload: { message: 'upstream 503' }, executor: { handler: 'fail' }, maxAttempts: attempts });
  await failedAt(taskId, attempts);
}

/** Waits until BullMQ has recorded the task failed with its latest attempt `attempt`. */
async function failedAt(taskId: string, attempt: number): Promise<void> {
  await waitFor(
    async () => {
      const s = await sys.client.getTaskStatus(taskId);
      return s.state === TaskState.TASK_STATE_FAILED && s.attempt === attempt;
    },
    { message: `${taskId} never failed at attempt ${attempt}` },
  );
}

/** Collects a task's events after the newest one now on the stream, until `done` says enough. */
async function collect(taskId: string): Promise<{ until(done: (e: TaskEvent[]) => boolean): Promise<TaskEvent[]> }> {
  const events: TaskEvent[] = [];
  const [newest] = await sys.r.xrevrange(sys.keys.events, '+', '-', 'COUNT', 1);
  const stream = sys.client.streamEvents({ taskIds: [taskId], cursor: newest?.[0] ?? '0' });
  const reading = (async () => {
    for await (const e of stream) events.push(e);
  })().catch(() => undefined);
  return {
    async until(done) {
      try {
        await waitFor(() => done(events), { message: `${taskId}'s events never got there: ${events.map((e) => `${e.type}:${e.attempt}`).join(' ')}` });
      } finally {
        stream.cancel();
        await reading;
      }
      return events;
    },
  };
}

const seq = (events: TaskEvent[]) => events.filter((e) => e.type !== 'progress').map((e) => `${e.type}:${e.attempt}`);

describe('RetryTasks renews attempts', { timeout: 120_000 }, () => {
  it('gives the attempts the task was submitted with; requeued comes before the rerun; numbers go on', async () => {
    await failing('rr-1', 2);
    expect(await sys.client.getTaskStatus('rr-1')).toMatchObject({ attemptsMade: 2, maxAttempts: 2, attempt: 2 });
    // Subscribed before the retry, so the order is the stream's.
    const feed = await collect('rr-1');
    expect((await sys.client.retryTasks({ taskIds: ['rr-1'] })).retried).toEqual(['rr-1']);
    const events = await feed.until((ev) => ev.some((e) => e.type === 'failed' && e.attempt === 4));
    expect(seq(events)).toEqual(['requeued:3', 'started:3', 'retrying:3', 'started:4', 'failed:4']);
    await failedAt('rr-1', 4);
    const s = await sys.client.getTaskStatus('rr-1');
    expect(s).toMatchObject({ attemptsMade: 2, maxAttempts: 2, attempt: 4, error: 'upstream 503' });
    expect(s.failure).toMatchObject({ message: 'upstream 503', kind: 'task_failed' });
  });

  it('gives the count the caller passes, and a later retry without one renews the submitted attempts', async () => {
    await failing('rr-2', 2);
    await sys.client.retryTasks({ taskIds: ['rr-2'], attempts: 1 });
    await failedAt('rr-2', 3);
    expect(await sys.client.getTaskStatus('rr-2')).toMatchObject({ attemptsMade: 1, maxAttempts: 1, attempt: 3 });
    await sys.client.retryTasks({ taskIds: ['rr-2'], attempts: 3 });
    await failedAt('rr-2', 6);
    expect(await sys.client.getTaskStatus('rr-2')).toMatchObject({ attemptsMade: 3, maxAttempts: 3, attempt: 6 });
    await sys.client.retryTasks({ taskIds: ['rr-2'] });
    await failedAt('rr-2', 8);
    expect(await sys.client.getTaskStatus('rr-2')).toMatchObject({ attemptsMade: 2, maxAttempts: 2, attempt: 8 });
    // ListTasks counts the same way.
    const listed = (await sys.client.listTasks({ taskClasses: ['cpu_short'], states: [TaskState.TASK_STATE_FAILED] }, { pageSize: 100 })).tasks;
    expect(listed.find((t) => t.taskId === 'rr-2')).toMatchObject({ attemptsMade: 2, maxAttempts: 2, attempt: 8 });
  });

  it('refuses a bad count with INVALID_ARGUMENT naming attempts, and changes nothing', async () => {
    await failing('rr-3', 1);
    for (const attempts of [0, -1, 1001]) {
      for (const call of [
        sys.client.retryTasks({ taskIds: ['rr-3'], attempts }),
        sys.client.retryTasks({ filter: { taskClasses: ['cpu_short'] }, attempts }),
      ]) {
        const err = await grpcError(call);
        expect(err.code).toBe(status.INVALID_ARGUMENT);
        expect(fieldOf(err)).toBe('attempts');
      }
    }
    expect(await sys.client.getTaskStatus('rr-3')).toMatchObject({ state: TaskState.TASK_STATE_FAILED, attemptsMade: 1, maxAttempts: 1, attempt: 1 });
    const cli = await orchctl(['--addr', sys.addr, 'retry', 'rr-3', '--attempts', '0']);
    expect(cli.code).not.toBe(0);
    expect(cli.err).toContain('attempts');
  });

  it('orchctl retry --attempts N gives that many', async () => {
    await failing('rr-4', 1);
    const cli = await orchctl(['--addr', sys.addr, 'retry', 'rr-4', '--attempts', '2']);
    expect(cli.code).toBe(0);
    await failedAt('rr-4', 3);
    expect(await sys.client.getTaskStatus('rr-4')).toMatchObject({ attemptsMade: 2, maxAttempts: 2, attempt: 3 });
  });
});

describe("Bull Board's Retry agrees with RetryTasks", { timeout: 120_000 }, () => {
  const api = (path: string) => `${sys.httpUrl}/admin/queues/api/queues/cpu_short${path}`;
  const as = (token: string) => ({ authorization: `Bearer ${token}` });

  it('one job: a new round, the requeued event, attempt numbers going on', async () => {
    await failing('rr-board-1', 2);
    const feed = await collect('rr-board-1');
    const res = await fetch(api('/rr-board-1/retry'), { method: 'PUT', headers: as(ADMIN_TOKEN) });
    expect(res.status).toBe(204);
    const events = await feed.until((ev) => ev.some((e) => e.type === 'failed' && e.attempt === 4));
    expect(seq(events)).toEqual(['requeued:3', 'started:3', 'retrying:3', 'started:4', 'failed:4']);
    await failedAt('rr-board-1', 4);
    expect(await sys.client.getTaskStatus('rr-board-1')).toMatchObject({ attemptsMade: 2, maxAttempts: 2, attempt: 4 });
    // What Bull Board shows of the job: BullMQ's count of this round, of the round's allowance.
    const { job } = (await (await fetch(api('/rr-board-1'), { headers: as(ADMIN_TOKEN) })).json()) as {
      job: { attempts: number; opts: { attempts: number }; stacktrace: string[] };
    };
    expect([job.attempts, job.opts.attempts]).toEqual([2, 2]);
    // One trace per failed attempt, retried or final: the task's failure, no stack frames.
    expect(job.stacktrace.length).toBeGreaterThanOrEqual(2);
    for (const trace of job.stacktrace) {
      expect(trace).toMatch(/^upstream 503\n {2}\(attempt \d, task_failed, retryable\)/);
      expect(trace).not.toMatch(/^\s+at /m);
    }
  });

  it('refuses a read-only user and a succeeded task; retries a whole class', async () => {
    await failing('rr-board-2', 1);
    expect((await fetch(api('/rr-board-2/retry'), { method: 'PUT', headers: as(VIEWER_TOKEN) })).status).toBe(403);
    const ok = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { n: '1' } });
    await sys.client.waitForResult(ok.taskId);
    await waitFor(async () => (await sys.client.getTaskStatus(ok.taskId)).state === TaskState.TASK_STATE_SUCCEEDED);
    const refused = await fetch(api(`/${ok.taskId}/retry`), { method: 'PUT', headers: as(ADMIN_TOKEN) });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { message: string }).message).toContain('not failed');

    const all = await fetch(api('/retry/failed'), { method: 'PUT', headers: as(ADMIN_TOKEN) });
    expect(all.status).toBe(200);
    expect(((await all.json()) as { retried: number }).retried).toBeGreaterThanOrEqual(1);
    await failedAt('rr-board-2', 2);
    expect(await sys.client.getTaskStatus('rr-board-2')).toMatchObject({ attemptsMade: 1, maxAttempts: 1, attempt: 2 });
  });
});
