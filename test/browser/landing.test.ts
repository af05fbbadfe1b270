/**
 * The landing page, search and the task page in headless Chromium: per-class counts and links to
 * every page; a search by id that finds a task in a non-default class; a failed command's task
 * page (its error, its events, a link to its Bull Board job); an admin cancelling a running task
 * from its page (the pool stops it and reports it cancelled); a read-only user, who sees no
 * buttons and whose cancel the API refuses with 403; and the failed command's job in Bull Board,
 * whose Logs tab shows its stdout and stderr (BullMQ's job log list, where the pool writes each
 * attempt's lines). Screenshots of each page go to test/artifacts/.
 */
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState } from '../../src/client/orchestrator-client.js';
import { ARTIFACTS_DIR, chromiumAvailable, launchChromium } from '../helpers/browser.js';
import { getText, sample } from '../helpers/http.js';
import { ADMIN, VIEWER, dashboardAccessToml } from '../helpers/dashboard-access.js';
import { startSystem, TEST_CONFIG_TOML, type PoolProcess, type TestSystem } from '../helpers/system.js';
import { waitFor } from '../helpers/wait.js';

const TOML = `${TEST_CONFIG_TOML}
${dashboardAccessToml({ users: true })}`;

const basic = (u: { username: string; password: string }) => ({ authorization: `Basic ${Buffer.from(`${u.username}:${u.password}`).toString('base64')}` });

let sys: TestSystem;
let pool: PoolProcess;

beforeAll(async () => {
  sys = await startSystem({ toml: TOML });
  pool = await sys.startPool({ classes: 'cpu_short:2,cpu_long:2' });
  // A failed command with output, in cpu_short; a finished task in cpu_long (not the default class).
  await sys.client.submitTask({
    taskId: 'landing-failed-cmd',
    taskClass: 'cpu_short',
    payload: { why: 'a command that fails' },
    executor: { command: { argv: ['/bin/sh', '-c', 'echo about to fail; echo broken >&2; exit 3'] } },
    maxAttempts: 1,
  });
  await sys.client.submitTask({ taskId: 'landing-long-ok', taskClass: 'cpu_long', payload: { ms: '10' }, executor: { handler: 'sleep' } });
  expect((await sys.client.waitForResult('landing-failed-cmd')).state).toBe(TaskState.TASK_STATE_FAILED);
  expect((await sys.client.waitForResult('landing-long-ok')).state).toBe(TaskState.TASK_STATE_SUCCEEDED);
});
afterAll(async () => sys?.stop());

describe('landing page and task page, over HTTP', () => {
  it('keeps / harmless without credentials and the probes open', async () => {
    const root = await fetch(`${sys.httpUrl}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/admin/');
    expect((await getText(`${sys.httpUrl}/admin/`)).status).toBe(401);
    expect((await getText(`${sys.httpUrl}/admin/api/overview`)).status).toBe(401);
    expect((await getText(`${sys.httpUrl}/health`)).status).toBe(200);
  });

  it("refuses a viewer's cancel with 403 and a cross-site admin's too, changing nothing", async () => {
    await sys.client.submitTask({ taskId: 'landing-queued-gpu', taskClass: 'gpu', payload: { waits: 'no gpu pool' } });
    const cancel = `${sys.httpUrl}/admin/api/tasks/landing-queued-gpu/cancel`;
    expect((await getText(cancel, { method: 'POST', headers: basic(VIEWER) })).status).toBe(403);
    const cross = await getText(cancel, { method: 'POST', headers: { ...basic(ADMIN), origin: 'https://evil.example' } });
    expect(cross.status).toBe(403);
    expect((await sys.client.getTaskStatus('landing-queued-gpu')).state).toBe(TaskState.TASK_STATE_QUEUED);
    const view = JSON.parse((await getText(`${sys.httpUrl}/admin/api/tasks/landing-queued-gpu`, { headers: basic(VIEWER) })).body) as {
      actions: { cancel: boolean };
    };
    expect(view.actions.cancel).toBe(false);
  });
});

describe.skipIf(!chromiumAvailable())('landing page and task page in a browser', () => {
  let browser: Browser;
  let admin: BrowserContext;
  let viewer: BrowserContext;
  const violations: string[] = [];
  const watch = (page: Page) => {
    page.on('console', (m) => {
      // Bull Board's page links Google Fonts, which the policy blocks on purpose (security-headers.ts).
      if (/Content Security Policy|violates/i.test(m.text()) && !m.text().includes('fonts.googleapis.com')) violations.push(m.text());
    });
    page.on('pageerror', (e) => violations.push(e.message));
    return page;
  };
  beforeAll(async () => {
    browser = await launchChromium();
    admin = await browser.newContext({ httpCredentials: ADMIN, viewport: { width: 1300, height: 900 } });
    viewer = await browser.newContext({ httpCredentials: VIEWER, viewport: { width: 1300, height: 900 } });
  });
  afterAll(async () => {
    await browser?.close();
    expect(violations).toEqual([]);
  });

  it('shows health, per-class counts and links to every page', async () => {
    const page = watch(await admin.newPage());
    await page.goto(`${sys.httpUrl}/`);
    expect(new URL(page.url()).pathname).toBe('/admin/');
    await page.locator('body[data-loaded="true"]').waitFor();
    const count = (cls: string, k: string) => page.locator(`#classes tr[data-class="${cls}"] td[data-count="${k}"]`).innerText();
    expect(await count('cpu_short', 'failed')).toBe('1');
    expect(await count('cpu_long', 'succeeded')).toBe('1');
    expect(await count('gpu', 'queued')).toBe('1');
    expect(await count('cpu_short', 'cancelled')).toBe('0');
    expect(await page.locator('#health-status').innerText()).toMatch(/serving|degraded/);
    for (const [name, href] of [
      ['Queues (Bull Board)', '/admin/queues'],
      ['Workflow runs', '/admin/workflows'],
      ['Pools', '/admin/pools'],
      ['Metrics', '/metrics'],
    ]) {
      expect(await page.getByRole('link', { name, exact: true }).getAttribute('href')).toBe(href);
    }
    expect(await page.getByRole('link', { name: 'cpu_long', exact: true }).getAttribute('href')).toBe('/admin/queues/queue/cpu_long');
    expect(await page.locator('#prioritized-note').innerText()).toContain('Prioritized');
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'landing.png'), fullPage: true });
  });

  it('finds a task in a non-default class by its id and opens its page', async () => {
    const page = watch(await admin.newPage());
    await page.goto(`${sys.httpUrl}/admin/`);
    await page.locator('#search-q').fill('no-such-task');
    await page.locator('#search button').click();
    await waitFor(async () => (await page.locator('#search-result').innerText()).includes('no task or workflow run'), { message: 'no "not found" shown' });
    await page.locator('#search-q').fill('landing-long-ok');
    await page.locator('#search button').click();
    await page.waitForURL('**/admin/tasks/landing-long-ok');
    await page.locator('body[data-loaded="true"]').waitFor();
    expect(await page.locator('#task-state').innerText()).toBe('succeeded');
    expect(await page.locator('dd[data-fact="class"]').innerText()).toBe('cpu_long');
    expect(await page.locator('#task-result').innerText()).toContain('sleptMs');
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'landing-search-task.png'), fullPage: true });
  });

  it("shows a failed command's error with its exit code and output tail, its logs, events and Bull Board link", async () => {
    const page = watch(await admin.newPage());
    await page.goto(`${sys.httpUrl}/admin/tasks/landing-failed-cmd`);
    await page.locator('body[data-loaded="true"]').waitFor();
    expect(await page.locator('#task-state').innerText()).toBe('failed');
    expect(await page.locator('#task-error').innerText()).toMatch(/exit/i);
    expect(await page.locator('dd[data-fact="attempts"]').innerText()).toBe('1 of 1');
    expect(await page.locator('#events tr[data-type="started"]').count()).toBe(1);
    expect(await page.locator('#events tr[data-type="failed"]').count()).toBe(1);
    expect(await page.locator('#task-spec').innerText()).toContain('exit 3');
    // The failure in one place: kind, exit code, output tail; and the attempt's logs by stream.
    expect(await page.locator('#failure-facts').innerText()).toContain('exit code 3');
    expect(await page.locator('#failure-tail').innerText()).toContain('broken');
    await page.locator('#logs-panel:not([hidden])').waitFor();
    const logs = await page.locator('#task-logs').innerText();
    expect(logs).toMatch(/stdout\s+about to fail/);
    expect(logs).toMatch(/stderr\s+broken/);
    expect(await page.locator('#retry').isVisible()).toBe(true);
    expect(await page.locator('#cancel').isVisible()).toBe(false);
    const board = await page.locator('#bull-board-link').getAttribute('href');
    expect(board).toBe('/admin/queues/queue/cpu_short/landing-failed-cmd');
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'task-failed.png'), fullPage: true });
    // Retry from the page: the task is requeued, runs again (and fails again: the command always exits 3).
    const retried = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/admin/api/tasks/landing-failed-cmd/retry'));
    await page.locator('#retry').click();
    await page.locator('#retry').click();
    expect((await retried).status()).toBe(200);
    await waitFor(async () => (await page.locator('#events tr[data-type="started"]').count()) === 2, { message: 'the retried task never started again' });
    expect(await page.locator('#events tr[data-type="requeued"]').count()).toBe(1);
    await page.locator('#task-state[data-state="failed"]').waitFor();
    await page.goto(`${sys.httpUrl}${board}`);
    await page.getByText('landing-failed-cmd').first().waitFor();
  });

  it('lets an admin cancel a running task: the pool stops it and reports it cancelled', async () => {
    await sys.client.submitTask({ taskId: 'landing-cancel-me', taskClass: 'cpu_long', payload: { ms: '600000' }, executor: { handler: 'sleep' } });
    await waitFor(async () => (await sys.client.getTaskStatus('landing-cancel-me')).state === TaskState.TASK_STATE_RUNNING, { message: 'never ran' });
    const page = watch(await admin.newPage());
    await page.goto(`${sys.httpUrl}/admin/tasks/landing-cancel-me`);
    await page.locator('#task-state[data-state="running"]').waitFor();
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'task-running.png'), fullPage: true });
    const cancelled = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/admin/api/tasks/landing-cancel-me/cancel'));
    await page.locator('#cancel').click();
    expect(await page.locator('#cancel').innerText()).toContain('Confirm');
    await page.locator('#cancel').click();
    expect((await cancelled).status()).toBe(200);
    await page.locator('#task-state[data-state="cancelled"]').waitFor({ timeout: 20_000 });
    expect(await page.locator('#task-error').innerText()).toContain('cancelled: requested from the dashboard');
    expect(await page.locator('#cancel').isVisible()).toBe(false);
    // The pool really stopped it: its final result says cancelled and its own metric counts it.
    expect((await sys.client.waitForResult('landing-cancel-me')).state).toBe(TaskState.TASK_STATE_CANCELLED);
    await waitFor(
      async () => sample((await getText(`${pool.metricsUrl}/metrics`)).body, 'orq_pool_attempts_total', '{class="cpu_long",outcome="cancelled"}') === 1,
      {
        message: 'the pool never counted the attempt cancelled',
      },
    );
    await page.locator('#events tr[data-type="cancelled"]').first().waitFor();
    // In Bull Board: listed under failed (BullMQ has no cancelled state), its error the cancel itself, not the pool's stack.
    const board = await getText(`${sys.httpUrl}/admin/queues/api/queues/cpu_long/landing-cancel-me`, { headers: basic(ADMIN) });
    const { job } = JSON.parse(board.body) as { job: { failedReason: string; stacktrace: string[] } };
    expect(job.failedReason).toBe('cancelled: requested from the dashboard');
    expect(job.stacktrace).toEqual(['cancelled: requested from the dashboard']);
    await page.goto(`${sys.httpUrl}/admin/queues/queue/cpu_long/landing-cancel-me`);
    await page.getByText('cancelled: requested from the dashboard').first().waitFor();
    expect(await page.locator('body').innerText()).not.toContain('UnrecoverableError');
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'task-cancelled-bull-board.png'), fullPage: true });
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'task-cancelled.png'), fullPage: true });
    // On the landing page it is cancelled, not failed.
    await page.goto(`${sys.httpUrl}/admin/`);
    await page.locator('body[data-loaded="true"]').waitFor();
    expect(await page.locator('#classes tr[data-class="cpu_long"] td[data-count="cancelled"]').innerText()).toBe('1');
    expect(await page.locator('#classes tr[data-class="cpu_long"] td[data-count="failed"]').innerText()).toBe('0');
  });

  it('shows a read-only user no buttons', async () => {
    const page = watch(await viewer.newPage());
    await page.goto(`${sys.httpUrl}/admin/tasks/landing-queued-gpu`);
    await page.locator('body[data-loaded="true"]').waitFor();
    expect(await page.locator('#task-state').innerText()).toBe('queued');
    expect(await page.locator('#actions').isVisible()).toBe(false);
    expect(await page.locator('button').count()).toBe(2); // both there, both hidden
    for (const b of await page.locator('button').all()) expect(await b.isVisible()).toBe(false);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'task-viewer.png'), fullPage: true });
  });

  it("shows a failed command's stderr and stdout in Bull Board's Logs tab, marked with attempt and stream", async () => {
    const page = await admin.newPage();
    await page.goto(`${sys.httpUrl}/admin/queues/queue/cpu_short/landing-failed-cmd`);
    await page.getByText('landing-failed-cmd').first().waitFor();
    await page
      .getByRole('button', { name: 'Logs', exact: true })
      .or(page.getByText('Logs', { exact: true }))
      .first()
      .click();
    await page
      .getByText(/\[attempt 1\] stderr: broken/)
      .first()
      .waitFor();
    await page
      .getByText(/\[attempt 1\] stdout: about to fail/)
      .first()
      .waitFor();
    expect(await page.locator('body').innerText()).not.toContain('No logs available');
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'task-logs-bull-board.png'), fullPage: true });
  });
});
