/**
 * The dashboard: Bull Board over every class queue and the workflow run page, behind basic auth
 * and bearer tokens with an admin and a read-only role; driven in headless Chromium (log in,
 * see each queue's counts, retry a failed task and see it succeed, watch a running DAG's step
 * states change) with screenshots saved under test/artifacts/. Also: the dashboard on its own
 * (src/bin/dashboard.js), the refusal to serve it without credentials off loopback, and a
 * ?token= login rendering Bull Board under the content security policy.
 */
import { join } from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState } from '../../src/client/orchestrator-client.js';
import { loadConfig } from '../../src/config/config.js';
import { ARTIFACTS_DIR, chromiumAvailable, launchChromium } from '../helpers/browser.js';
import { getText } from '../helpers/http.js';
import { ADMIN, VIEWER, VIEWER_TOKEN, ADMIN_TOKEN, dashboardAccessToml } from '../helpers/dashboard-access.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from '../helpers/system.js';
import { waitFor } from '../helpers/wait.js';

const CLASSES = ['cpu_short', 'cpu_long', 'gpu', 'gpu_slurm', 'inproc'];

const TOML = `${TEST_CONFIG_TOML}
${dashboardAccessToml({ users: true, tokens: true })}`;

const basic = (u: { username: string; password: string }) => ({ authorization: `Basic ${Buffer.from(`${u.username}:${u.password}`).toString('base64')}` });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

let sys: TestSystem;
let failedTaskId: string;

beforeAll(async () => {
  sys = await startSystem({ toml: TOML });
  await sys.startPool({ classes: 'cpu_short:4,cpu_long:2' });
  // Fails its only attempt; a retry from the dashboard is attempt 2, which succeeds.
  const t = await sys.client.submitTask({
    taskId: 'dash-retry-me',
    taskClass: 'cpu_short',
    payload: { message: 'fails once', succeed_on_attempt: '2' },
    executor: { handler: 'fail' },
    maxAttempts: 1,
  });
  failedTaskId = t.taskId;
  expect((await sys.client.waitForResult(failedTaskId)).state).toBe(TaskState.TASK_STATE_FAILED);
  for (let i = 0; i < 3; i++) await sys.client.waitForResult((await sys.client.submitTask({ taskClass: 'cpu_short', payload: { i: String(i) } })).taskId);
  await sys.client.submitTask({ taskClass: 'gpu', payload: { waits: 'no gpu pool' } });
});
afterAll(async () => sys?.stop());

describe('dashboard auth', () => {
  const api = (path: string) => `${sys.httpUrl}/admin/queues/api${path}`;

  it('asks for credentials and refuses wrong ones; probes stay open', async () => {
    const none = await fetch(`${sys.httpUrl}/admin/queues`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect((await getText(api('/queues'), { headers: basic({ ...ADMIN, password: 'wrong-password' }) })).status).toBe(401);
    expect((await getText(api('/queues'), { headers: bearer('not-a-token-000000000') })).status).toBe(401);
    expect((await getText(`${sys.httpUrl}/metrics`)).status).toBe(200);
  });

  it('lets a read-only user look, and answers 403 when it tries to retry, clean, promote or add', async () => {
    for (const headers of [basic(VIEWER), bearer(VIEWER_TOKEN)]) {
      const list = await getText(api('/queues?activeQueue=cpu_short&status=failed'), { headers });
      expect(list.status).toBe(200);
      expect(list.body).toContain(failedTaskId);
      for (const [method, path] of [
        ['PUT', `/queues/cpu_short/${failedTaskId}/retry`],
        ['PUT', `/queues/cpu_short/${failedTaskId}/clean`],
        ['PUT', `/queues/cpu_short/${failedTaskId}/promote`],
        ['PUT', '/queues/cpu_short/retry/failed'],
        ['POST', '/queues/cpu_short/add'],
      ]) {
        expect((await getText(api(path!), { method, headers })).status, `${method} ${path}`).toBe(403);
      }
    }
    expect((await getText(`${sys.httpUrl}/admin/queues`, { headers: basic(VIEWER) })).body).toContain('read-only');
    expect((await sys.client.getTaskStatus(failedTaskId)).state).toBe(TaskState.TASK_STATE_FAILED);
  });

  it("shows the schedule ticks' queue, read-only even to an admin", async () => {
    // Yearly, so nothing fires while the suite runs (an interval schedule ticks once at once).
    await sys.client.createSchedule({ scheduleId: 'board-yearly', cron: '0 0 0 1 1 *', task: { taskClass: 'cpu_long', payload: { s: '1' } } });
    const list = await getText(api('/queues?activeQueue=orq-schedules&status=delayed'), { headers: basic(ADMIN) });
    expect(list.status).toBe(200);
    const ticks = (JSON.parse(list.body) as { queues: { name: string; readOnlyMode: boolean; jobs: { id: string }[] }[] }).queues.find(
      (q) => q.name === 'orq-schedules',
    );
    expect(ticks?.readOnlyMode).toBe(true);
    expect(ticks?.jobs.map((j) => j.id)).toEqual([expect.stringMatching(/^repeat:board-yearly:\d+$/)]);
    const promote = await getText(api(`/queues/orq-schedules/${encodeURIComponent(ticks!.jobs[0]!.id)}/promote`), { method: 'PUT', headers: basic(ADMIN) });
    expect(promote.status).toBe(405);
    expect((await sys.client.getSchedule('board-yearly')).lastRunAtMs).toBe(0);
    await sys.client.deleteSchedule('board-yearly');
  });

  it('an admin token may use the API', async () => {
    const res = await getText(api('/queues?activeQueue=cpu_short&status=completed'), { headers: bearer(ADMIN_TOKEN) });
    expect(res.status).toBe(200);
  });

  it('runs on its own (src/bin/dashboard.js) and exits 0 on SIGTERM', async () => {
    const dash = await sys.startDashboard();
    const res = await getText(`${dash.httpUrl}/admin/queues/api/queues`, { headers: basic(ADMIN) });
    expect(res.status).toBe(200);
    for (const cls of CLASSES) expect(res.body).toContain(`"name":"${cls}"`);
    expect((await getText(`${dash.httpUrl}/admin/queues/api/queues`)).status).toBe(401);
    expect((await getText(`${dash.httpUrl}/ready`)).status).toBe(200);
    dash.kill('SIGTERM');
    expect(await dash.exited).toBe(0);
    expect(dash.output()).toContain('dashboard stopped');
    expect(dash.output()).not.toContain(ADMIN.password);
  });

  it('refuses a dashboard without credentials on a non-loopback address', () => {
    expect(() => loadConfig({ env: {}, overrides: { http: { addr: '0.0.0.0:9097' } } })).toThrow(/http\.dashboard\.users/);
    // Without the dashboard, the open probe routes alone on a public address need the explicit opening.
    expect(() => loadConfig({ env: {}, overrides: { http: { addr: '0.0.0.0:9097', dashboard: { enabled: false } } } })).toThrow(/http\.allowUnauthenticated/);
    expect(() =>
      loadConfig({ env: {}, overrides: { http: { addr: '0.0.0.0:9097', allowUnauthenticated: true, dashboard: { enabled: false } } } }),
    ).not.toThrow();
    expect(() => loadConfig({ env: {}, overrides: { http: { addr: '127.0.0.1:9097' } } })).not.toThrow();
  });
});

describe.skipIf(!chromiumAvailable())('dashboard in a browser', () => {
  let browser: Browser;
  let admin: BrowserContext;
  beforeAll(async () => {
    browser = await launchChromium();
    admin = await browser.newContext({ httpCredentials: ADMIN, viewport: { width: 1400, height: 900 } });
  });
  afterAll(async () => browser?.close());

  it('logs in, shows every class queue with its counts, and retries a failed task until it succeeds', async () => {
    const page = await admin.newPage();
    await page.goto(`${sys.httpUrl}/admin/queues`);
    for (const cls of CLASSES) await page.getByRole('link', { name: cls, exact: true }).first().waitFor();
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'dashboard-queues.png'), fullPage: true });
    // Counts: cpu_short has 3 completed and 1 failed task, gpu 1 waiting (no pool serves it).
    await page.getByText('4 Jobs').first().waitFor();
    const overview = await page.locator('body').innerText();
    for (const cls of CLASSES) expect(overview).toContain(cls);
    expect(overview).toMatch(/FAILED\s*1/);
    expect(overview).toContain('1 Job');

    await page.goto(`${sys.httpUrl}/admin/queues/queue/cpu_short?status=failed`);
    await page.getByText(failedTaskId).first().waitFor();
    // The job's error is the task's own failure (attempt, kind, retryable), never a stack of the
    // pool's code.
    await page.getByRole('tab', { name: 'Error' }).first().click();
    await page.getByText('(attempt 1, task_failed, retryable)').first().waitFor();
    const errorText = await page.locator('body').innerText();
    expect(errorText).toContain('fails once');
    expect(errorText).not.toMatch(/task-processor|node_modules|^\s+at /m);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'dashboard-failed-error.png'), fullPage: true });
    // The job card's retry action is an icon (Bull Board gives it no text), then a confirm dialog.
    const card = page.getByText(failedTaskId).first().locator('xpath=ancestor::*[.//button][1]');
    const retried = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith(`/api/queues/cpu_short/${failedTaskId}/retry`));
    await card.locator('button:has(svg.lucide-refresh-cw)').click();
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    expect((await retried).status()).toBeLessThan(300);
    await waitFor(async () => (await sys.client.getTaskStatus(failedTaskId)).state === TaskState.TASK_STATE_SUCCEEDED, {
      message: 'the retried task never succeeded',
    });
    await page.goto(`${sys.httpUrl}/admin/queues/queue/cpu_short?status=completed`);
    await page.getByText(failedTaskId).first().waitFor();
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'dashboard-retried.png'), fullPage: true });
  });

  it('logs in with a ?token= URL (no basic auth) and renders under the content security policy', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    try {
      const page = await context.newPage();
      // Only the Google Fonts stylesheet may be refused: the policy blocks third parties on purpose.
      const violations: string[] = [];
      page.on('console', (m) => {
        if (/Content Security Policy|violates/i.test(m.text()) && !m.text().includes('fonts.googleapis.com')) violations.push(m.text());
      });
      page.on('pageerror', (e) => violations.push(e.message));
      const res = await page.goto(`${sys.httpUrl}/admin/?token=${ADMIN_TOKEN}`);
      expect(new URL(page.url()).search).not.toContain('token');
      expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
      for (const cls of CLASSES) await page.getByRole('link', { name: cls, exact: true }).first().waitFor();
      await page.goto(`${sys.httpUrl}/admin/queues/queue/cpu_short?status=completed`);
      await page.getByText('Completed').first().waitFor();
      const cookies = await context.cookies();
      expect(cookies.find((c) => c.name === 'orq_dashboard')).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/admin' });
      expect(violations).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("draws a running workflow's DAG and follows its steps' states live", async () => {
    const sleep = (ms: number) => ({ taskClass: 'cpu_long', payload: { ms: String(ms) }, executor: { handler: 'sleep' } });
    await sys.client.createWorkflow({
      name: 'dash-dag',
      steps: [
        { stepId: 'fetch', task: sleep(2500) },
        { stepId: 'left', task: sleep(2500), dependsOn: ['fetch'] },
        { stepId: 'right', task: sleep(2500), dependsOn: ['fetch'] },
        { stepId: 'join', task: sleep(200), dependsOn: ['left', 'right'] },
      ],
    });
    const { runId } = await sys.client.startWorkflowRun({ name: 'dash-dag' });
    const page = await admin.newPage();
    await page.goto(`${sys.httpUrl}/admin/workflows/${runId}`);
    const step = (id: string) => page.locator(`#dag g.step[data-step-id="${id}"]`);
    await waitFor(async () => (await step('fetch').getAttribute('data-state')) === 'running', { message: 'fetch never showed running' });
    expect(await step('join').getAttribute('data-state')).toBe('pending');
    expect(await page.locator('#dag path.edge').count()).toBe(4);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'dashboard-workflow-running.png'), fullPage: true });
    await waitFor(async () => (await step('left').getAttribute('data-state')) === 'running', { message: 'left never showed running' });
    expect(await step('fetch').getAttribute('data-state')).toBe('succeeded');
    await waitFor(async () => (await page.locator('#run-state').getAttribute('data-state')) === 'succeeded', { message: 'the run never showed succeeded' });
    for (const id of ['fetch', 'left', 'right', 'join']) expect(await step(id).getAttribute('data-state')).toBe('succeeded');
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'dashboard-workflow-done.png'), fullPage: true });
  });
});
