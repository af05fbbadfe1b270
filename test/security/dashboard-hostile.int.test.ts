/**
 * The dashboard (landing and task pages, their API, Bull Board) against hostile input: callers
 * of every role and none, and Redis contents written by anyone who can write to Redis. One
 * system, no pool: cpu_long tasks stay queued until cancelled. Each `it` is a finding that
 * failed before its fix.
 *
 * Checked and found holding (no test here, or covered by dashboard-api.int.test.ts and
 * dashboard.int.test.ts):
 * - our pages put server text in with textContent only, never as HTML, and the CSP allows
 *   scripts from this origin only (no inline script), so HTML in a task id, class, error,
 *   progress, event detail or job data is shown as text; Bull Board renders with React, which
 *   escapes it too; a search answer is followed only to a /admin/ URL;
 * - every state change of the pages' API and of Bull Board's API is a POST, PUT or PATCH: no GET
 *   changes anything (a GET to an action path is 404); those pass the Origin check and the
 *   read_only role gets 403 on them, whatever the case of the path (Express matches
 *   case-insensitively, and so do the guards, being mounted the same way) or a trailing slash;
 * - a DNS-rebinding Host is refused (421) before credentials are looked at;
 * - a task index entry naming an unknown class answers 400 naming task_class, not a 500;
 * - counters holding non-numbers read as null on the landing page, not an error;
 * - a huge events stream is read at most maxScannedEntries entries per page view.
 *
 * - Bull Board's other caller-sized reads are clamped by Bull Board itself (a flow's depth and
 *   children); its job-flow answers carry no job data, so they need no redaction.
 *
 * Not fixed here: one job whose JSON does not parse makes Bull Board's own list of that queue
 * answer 500 (its message, no stack) until the job is removed; Bull Board's code, not ours. Bull
 * Board's job page sends a job's data whole (bounded by what SubmitTask accepts, not by what is
 * in Redis): cutting it there would put the cut text in its Edit form, and saving would write it
 * back over the job. A huge events-stream entry is read whole by XRANGE before it is cut.
 *
 * node:http rather than fetch, which will not let a caller set Origin.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState } from '../../src/client/orchestrator-client.js';
import { sendRaw, type RawAnswer } from '../helpers/http.js';
import { VIEWER_TOKEN, ADMIN_TOKEN, dashboardAccessToml } from '../helpers/dashboard-access.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from '../helpers/system.js';

const TOML = `${TEST_CONFIG_TOML}
${dashboardAccessToml({ tokens: true })}`;

const send = sendRaw;

const viewer = { authorization: `Bearer ${VIEWER_TOKEN}` };
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

let sys: TestSystem;
const url = (path: string) => `${sys.httpUrl}${path}`;
const jobKey = (id: string) => sys.keys.job('cpu_long', id);
const stateOf = async (id: string) => (await sys.client.getTaskStatus(id)).state;

async function submit(...ids: string[]): Promise<void> {
  for (const taskId of ids) await sys.client.submitTask({ taskId, taskClass: 'cpu_long', payload: { input: 'x' } });
}

beforeAll(async () => {
  sys = await startSystem({ toml: TOML });
});
afterAll(async () => sys?.stop());

/** What Express's own error page shows: the error's name and stack, with the server's paths. */
function expectNoStack(r: RawAnswer): void {
  expect(r.body).not.toMatch(/SyntaxError|node_modules|\bat [A-Za-z.]+ \(|<pre>/);
}

describe('an error no route answers', () => {
  it('answers 500 with a short JSON body, not the stack, for a job whose JSON does not parse', async () => {
    await submit('bad-data', 'bad-opts');
    await sys.r.hset(jobKey('bad-data'), 'data', '{not json');
    await sys.r.hset(jobKey('bad-opts'), 'opts', '{not json');
    for (const id of ['bad-data', 'bad-opts']) {
      const r = await send(url(`/admin/api/tasks/${id}`), 'GET', viewer);
      expect(r.status, id).toBe(500);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(r.body)).toEqual({ error: expect.stringContaining('orchestrator log') });
      expectNoStack(r);
    }
    // A URL Express cannot decode: its 400, without the stack either.
    const bad = await send(url('/admin/tasks/%E0%A4%A'), 'GET', viewer);
    expect(bad.status).toBe(400);
    expectNoStack(bad);
  });
});

describe('times in Redis that are no times', () => {
  it('still shows the task when the list entry its index value names is no time', async () => {
    await submit('odd-times');
    const bucket = sys.keys.taskIndex('odd-times');
    const [taskClass, digest] = (await sys.r.hget(bucket, 'odd-times'))!.split('\t');
    for (const entry of ['1e300-0', 'inf', '99999999999999999999-1', '-1-0', 'x'.repeat(10_000), '']) {
      await sys.r.hset(bucket, 'odd-times', `${taskClass}\t${digest}\t${entry}`);
      const r = await send(url('/admin/api/tasks/odd-times'), 'GET', viewer);
      expect(r.status, entry.slice(0, 30)).toBe(200);
      expect(JSON.parse(r.body)).toMatchObject({ taskId: 'odd-times', state: 'queued' });
    }
  });
});

describe("Bull Board's Retry", () => {
  it('refuses to run a cancelled task again, one job or the whole failed list, and leaves it cancelled', async () => {
    await submit('cancelled-1', 'queued-1');
    const cancel = await send(url('/admin/api/tasks/cancelled-1/cancel'), 'POST', admin);
    expect(cancel.status).toBe(200);
    expect(await stateOf('cancelled-1')).toBe(TaskState.TASK_STATE_CANCELLED);

    const put = (path: string) => send(url(`/admin/queues/api${path}`), 'PUT', { ...admin, origin: sys.httpUrl });
    for (const path of ['/queues/cpu_long/cancelled-1/retry', '/Queues/cpu_long/cancelled-1/RETRY/', '/queues/cpu_long/cancelled%2D1/retry']) {
      const r = await put(path);
      expect(r.status, path).toBe(409);
      expect(JSON.parse(r.body), path).toEqual({ error: 'Task not retried', message: 'task "cancelled-1" is cancelled, not failed' });
    }
    // "Retry all" goes through RetryTasks too, whose failed tasks leave cancelled ones out: nothing runs.
    const all = await put('/queues/cpu_long/retry/failed');
    expect(all.status).toBe(200);
    expect(JSON.parse(all.body)).toEqual({ retried: 0, skipped: 0 });
    expect(await stateOf('cancelled-1')).toBe(TaskState.TASK_STATE_CANCELLED);
    expect(await sys.r.hget(jobKey('cancelled-1'), 'failedReason')).toMatch(/^cancelled: /);

    // A queued task is not retried either (409, not failed), and "Retry all" of a failed list
    // without cancelled tasks goes through.
    expect((await put('/queues/cpu_long/queued-1/retry')).status).toBe(409);
    const other = await put('/queues/cpu_short/retry/failed');
    expect(other.status).toBe(200);
    expect(JSON.parse(other.body)).toMatchObject({ retried: 0 });
    // A viewer never gets this far.
    expect((await send(url('/admin/queues/api/queues/cpu_long/cancelled-1/retry'), 'PUT', viewer)).status).toBe(403);
  });
});

describe("Bull Board's job list", () => {
  it('answers 400 for a page larger than its own settings offer, before reading a job, for any role', async () => {
    const list = (perPage: string, h: Record<string, string>) =>
      send(url(`/admin/queues/api/queues?activeQueue=cpu_short&status=prioritized&page=1&jobsPerPage=${perPage}`), 'GET', h);
    for (const h of [viewer, admin]) {
      const r = await list('10000000', h);
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body)).toEqual({ error: 'jobsPerPage: at most 300 jobs a page', field: 'jobsPerPage' });
      expect((await list('300', h)).status).toBe(200);
    }
    expect((await send(url('/admin/queues/api/queues?activeQueue=cpu_short&jobsPerPage=10&jobsPerPage=20000'), 'GET', viewer)).status).toBe(400);
  });
});

describe('the task page against huge Redis contents', () => {
  it('leaves out a spec too large to show and cuts a huge error, progress and event fields', async () => {
    await submit('huge');
    const huge = 'x'.repeat(6 << 20);
    await sys.r.hset(jobKey('huge'), 'data', JSON.stringify({ executor: { kind: 'handler', name: 'echo' }, payload: { big: huge }, timeoutMs: 1 }));
    await sys.r.hset(jobKey('huge'), 'failedReason', huge, 'progress', JSON.stringify(huge));
    // A flood of entries naming the task, each with a huge field: more than a page holds.
    const p = sys.r.pipeline();
    for (let i = 0; i < 1200; i++)
      p.xadd(
        sys.keys.events,
        '*',
        'type',
        'progress',
        'task_id',
        'huge',
        'class',
        'cpu_long',
        'attempt',
        '1',
        'at',
        String(Date.now()),
        'worker',
        'w'.repeat(20_000),
      );
    await p.exec();

    const r = await send(url('/admin/api/tasks/huge'), 'GET', viewer);
    expect(r.status).toBe(200);
    expect(r.body.length).toBeLessThan(1 << 20);
    const t = JSON.parse(r.body) as {
      spec: unknown;
      specOmitted: string;
      error: string;
      progressJson: string;
      events: { workerId?: string }[];
      eventsIncomplete: boolean;
    };
    expect(t.spec).toBeNull();
    expect(t.specOmitted).toMatch(/characters of JSON, over the page's/);
    expect(t.error.length).toBeLessThan(70_000);
    expect(t.error).toMatch(/cut at 65536 characters\)$/);
    expect(t.progressJson.length).toBeLessThan(70_000);
    expect(t.events.length).toBeLessThanOrEqual(1000);
    expect(t.eventsIncomplete).toBe(true);
    expect(Math.max(...t.events.map((e) => e.workerId?.length ?? 0))).toBeLessThan(4200);
  });
});

describe("secrets in a task's spec, whatever their shape", () => {
  it('redacts env given as a list and the password in a URL for a viewer, on the task page and in Bull Board', async () => {
    await submit('shapes');
    const data = {
      executor: {
        kind: 'http',
        url: 'https://bob:pa55word-secret@hooks.example/run',
        headers: [['X-Token', 'hdr-secret']],
        env: ['API_TOKEN=env-secret', 'loose-secret'],
      },
      payload: { input: 'x' },
      timeoutMs: 1000,
    };
    await sys.r.hset(jobKey('shapes'), 'data', JSON.stringify(data));
    const page = await send(url('/admin/api/tasks/shapes'), 'GET', viewer);
    const board = await send(url('/admin/queues/api/queues/cpu_long/shapes'), 'GET', viewer);
    for (const r of [page, board]) {
      expect(r.status).toBe(200);
      expect(r.body).not.toMatch(/pa55word|hdr-secret|env-secret|loose-secret/);
    }
    const spec = (JSON.parse(page.body) as { spec: { executor: Record<string, unknown> } }).spec.executor;
    expect(spec).toMatchObject({ url: 'https://bob:[redacted]@hooks.example/run', headers: ['[redacted]'], env: ['API_TOKEN=[redacted]', '[redacted]'] });
    // Admins see what is there.
    expect((await send(url('/admin/api/tasks/shapes'), 'GET', admin)).body).toContain('pa55word-secret');
  });

  it("redacts a finished task's result and progress for a viewer: an echoing handler hands its payload back", async () => {
    await submit('echoed');
    // As a pool finishing an echo task leaves it: the job in the completed set with its return value.
    const q = (set: string) => `${sys.keys.queuePrefix}:cpu_long:${set}`;
    await sys.r.zrem(q('prioritized'), 'echoed');
    await sys.r.zadd(q('completed'), Date.now(), 'echoed');
    await sys.r.hset(
      jobKey('echoed'),
      'returnvalue',
      JSON.stringify({ input: 'x', apiKey: 'result-secret' }),
      'progress',
      JSON.stringify({ authToken: 'progress-secret', pct: 50 }),
      'finishedOn',
      String(Date.now()),
    );
    const page = await send(url('/admin/api/tasks/echoed'), 'GET', viewer);
    const board = await send(url('/admin/queues/api/queues/cpu_long/echoed'), 'GET', viewer);
    for (const r of [page, board]) {
      expect(r.status).toBe(200);
      expect(r.body).not.toMatch(/result-secret|progress-secret/);
    }
    const t = JSON.parse(page.body) as { state: string; resultJson: string; progressJson: string };
    expect(t.state).toBe('succeeded');
    expect(JSON.parse(t.resultJson)).toEqual({ input: 'x', apiKey: '[redacted]' });
    expect(JSON.parse(t.progressJson)).toEqual({ authToken: '[redacted]', pct: 50 });
    expect((await send(url('/admin/api/tasks/echoed'), 'GET', admin)).body).toContain('result-secret');
  });
});
