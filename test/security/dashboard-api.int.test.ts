/**
 * The landing and task pages' JSON API (/admin/api/...) against the real HTTP server, without a
 * pool or a browser: who may read and who may act (a read_only user gets 403 on cancel and
 * retry; its view redacts secret payload values and offers no actions), where a changing request
 * may come from (another site, or a session cookie with no Origin or Sec-Fetch-Site, is refused;
 * an Authorization header from a script is not), and bad input (an id that is no task id, an
 * unknown task). Every refusal leaves the task as it was.
 *
 * node:http rather than fetch, which will not let a caller set Origin or Sec-Fetch-Site.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDACTED } from '../../dashboard/redaction.js';
import { TaskState } from '../../src/client/orchestrator-client.js';
import { sendRaw } from '../helpers/http.js';
import { VIEWER_TOKEN, ADMIN_TOKEN, dashboardAccessToml } from '../helpers/dashboard-access.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from '../helpers/system.js';

const TOML = `${TEST_CONFIG_TOML}
${dashboardAccessToml({ tokens: true })}`;

const send = sendRaw;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

let sys: TestSystem;
let api: (path: string) => string;
let cookie: string;

beforeAll(async () => {
  sys = await startSystem({ toml: TOML });
  api = (path) => `${sys.httpUrl}/admin/api${path}`;
  // No pool serves cpu_long here: these tasks stay queued until cancelled.
  for (const id of ['api-queued-1', 'api-queued-2', 'api-queued-3']) {
    await sys.client.submitTask({ taskId: id, taskClass: 'cpu_long', payload: { input: 'visible', apiKey: 'hunter2-secret' } });
  }
  const login = await send(`${sys.httpUrl}/admin/?token=${ADMIN_TOKEN}`);
  expect(login.status).toBe(303);
  cookie = login.headers['set-cookie']!.find((c) => c.startsWith('orq_dashboard='))!.split(';')[0]!;
});
afterAll(async () => sys?.stop());

const stateOf = async (id: string) => (await sys.client.getTaskStatus(id)).state;

describe('dashboard API roles', () => {
  it('lets a read-only caller look, with secrets redacted and no actions offered', async () => {
    const r = await send(api('/tasks/api-queued-1'), 'GET', bearer(VIEWER_TOKEN));
    expect(r.status).toBe(200);
    expect(r.headers['content-security-policy']).toContain("default-src 'none'");
    const t = JSON.parse(r.body) as { state: string; taskClass: string; spec: { payload: Record<string, string> }; actions: Record<string, boolean> };
    expect(t).toMatchObject({ state: 'queued', taskClass: 'cpu_long', actions: { cancel: false, retry: false } });
    expect(t.spec.payload).toEqual({ input: 'visible', apiKey: REDACTED });
    expect(r.body).not.toContain('hunter2');
    const admin = JSON.parse((await send(api('/tasks/api-queued-1'), 'GET', bearer(ADMIN_TOKEN))).body) as typeof t;
    expect(admin.spec.payload.apiKey).toBe('hunter2-secret');
    expect(admin.actions.cancel).toBe(true);
    const overview = JSON.parse((await send(api('/overview'), 'GET', bearer(VIEWER_TOKEN))).body) as {
      role: string;
      classes: { name: string; queued: number }[];
    };
    expect(overview.role).toBe('read_only');
    expect(overview.classes.find((c) => c.name === 'cpu_long')?.queued).toBe(3);
  });

  it("answers a read-only caller's cancel and retry with 403 and changes nothing", async () => {
    for (const action of ['cancel', 'retry']) {
      const r = await send(api(`/tasks/api-queued-1/${action}`), 'POST', bearer(VIEWER_TOKEN));
      expect(r.status, action).toBe(403);
      expect(r.body).toContain('read-only');
    }
    expect(await stateOf('api-queued-1')).toBe(TaskState.TASK_STATE_QUEUED);
  });

  it('asks for credentials first', async () => {
    expect((await send(api('/overview'))).status).toBe(401);
    expect((await send(api('/tasks/api-queued-1/cancel'), 'POST')).status).toBe(401);
    expect(await stateOf('api-queued-1')).toBe(TaskState.TASK_STATE_QUEUED);
  });
});

describe('dashboard API origin checks', () => {
  const cancel = () => api('/tasks/api-queued-2/cancel');
  const own = () => sys.httpUrl;

  it("refuses an admin session's cancel from another site, or from nowhere known", async () => {
    for (const headers of <Record<string, string>[]>[
      { cookie, origin: 'https://evil.example' },
      { cookie, 'sec-fetch-site': 'cross-site' },
      { cookie, 'sec-fetch-site': 'same-site' },
      { cookie },
      { ...bearer(ADMIN_TOKEN), origin: 'http://127.0.0.1:1' },
    ]) {
      const r = await send(cancel(), 'POST', headers);
      expect(r.status, JSON.stringify(Object.keys(headers))).toBe(403);
    }
    expect(await stateOf('api-queued-2')).toBe(TaskState.TASK_STATE_QUEUED);
    // A rebinding page reaches us under its own Host name: refused before anything else.
    expect((await send(cancel(), 'POST', { cookie, host: 'evil.example', origin: 'http://evil.example' })).status).toBe(421);
    expect(await stateOf('api-queued-2')).toBe(TaskState.TASK_STATE_QUEUED);
  });

  it("takes an admin session's cancel from the dashboard itself", async () => {
    const r = await send(cancel(), 'POST', { cookie, origin: own() });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ taskId: 'api-queued-2', state: 'cancelled' });
    expect(await stateOf('api-queued-2')).toBe(TaskState.TASK_STATE_CANCELLED);
    // Cancelled again: still cancelled; a cancelled task is not retried (cancel is a decision).
    expect(JSON.parse((await send(cancel(), 'POST', { cookie, origin: own() })).body)).toMatchObject({ state: 'cancelled' });
    const retry = await send(api('/tasks/api-queued-2/retry'), 'POST', { cookie, 'sec-fetch-site': 'same-origin' });
    expect(retry.status).toBe(409);
    expect(retry.body).toContain('cancelled, not failed');
  });

  it("takes a script's cancel with an Authorization header and no Origin", async () => {
    const r = await send(api('/tasks/api-queued-3/cancel'), 'POST', bearer(ADMIN_TOKEN));
    expect(r.status).toBe(200);
    expect(await stateOf('api-queued-3')).toBe(TaskState.TASK_STATE_CANCELLED);
    // Counted as cancelled on the landing page, never as failed.
    const overview = JSON.parse((await send(api('/overview'), 'GET', bearer(ADMIN_TOKEN))).body) as { classes: { name: string }[] };
    expect(overview.classes.find((c) => c.name === 'cpu_long')).toMatchObject({ queued: 1, cancelled: 2, failed: 0 });
  });
});

describe('dashboard API input', () => {
  it('names the field of a bad id and answers 404 for an unknown one', async () => {
    const h = bearer(ADMIN_TOKEN);
    const bad = await send(api(`/tasks/${encodeURIComponent('a b<script>')}`), 'GET', h);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ field: 'task_id' });
    expect((await send(api(`/tasks/${'x'.repeat(129)}/cancel`), 'POST', h)).status).toBe(400);
    expect((await send(api('/tasks/no-such-task'), 'GET', h)).status).toBe(404);
    expect((await send(api('/tasks/no-such-task/cancel'), 'POST', h)).status).toBe(404);
    // The logs panel's API: the attempt is a number, the task a known one.
    const badAttempt = await send(api('/tasks/api-queued-1/logs?attempt=-1'), 'GET', h);
    expect(badAttempt.status).toBe(400);
    expect(JSON.parse(badAttempt.body)).toMatchObject({ field: 'attempt' });
    expect((await send(api('/tasks/no-such-task/logs'), 'GET', h)).status).toBe(404);
    expect(JSON.parse((await send(api('/tasks/api-queued-1/logs'), 'GET', bearer(VIEWER_TOKEN))).body)).toMatchObject({ attempts: [], lines: [] });
    expect((await send(api(`/search?q=${'y'.repeat(200)}`), 'GET', h)).status).toBe(400);
    expect((await send(api('/search?q=no-such-task'), 'GET', h)).status).toBe(404);
    const found = JSON.parse((await send(api('/search?q=api-queued-1'), 'GET', h)).body) as unknown;
    expect(found).toEqual({ kind: 'task', id: 'api-queued-1', taskClass: 'cpu_long', url: '/admin/tasks/api-queued-1' });
    // Not a task id: a workflow run's.
    await sys.client.createWorkflow({ name: 'api-search', steps: [{ stepId: 'only', task: { taskClass: 'cpu_long', payload: { s: '1' } } }] });
    const { runId } = await sys.client.startWorkflowRun({ name: 'api-search' });
    const run = JSON.parse((await send(api(`/search?q=${runId}`), 'GET', h)).body) as unknown;
    expect(run).toEqual({ kind: 'run', id: runId, url: `/admin/workflows/${runId}` });
  });
});
