/**
 * Hostile Redis contents in a browser: HTML written into a cancelled task's error, data, progress
 * and events shows as text on the task page and in Bull Board (its Error, Data and Progress tabs),
 * never as elements (this held before; the test keeps it so); and
 * Bull Board's Retry on that cancelled task is refused with a message saying why, the task
 * staying cancelled. No pool: the cpu_long task stays queued until cancelled. Screenshots:
 * `hostile-task.png`, `hostile-bull-board.png` (with the refusal shown) in test/artifacts/.
 */
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState } from '../../src/client/orchestrator-client.js';
import { ARTIFACTS_DIR, chromiumAvailable, launchChromium } from '../helpers/browser.js';
import { ADMIN, dashboardAccessToml } from '../helpers/dashboard-access.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from '../helpers/system.js';

const TOML = `${TEST_CONFIG_TOML}
${dashboardAccessToml({ users: true, viewer: false })}`;
const ID = 'hostile-html';
/** Markup that would show up as an element (found by its id) if a page put it in as HTML. */
const html = (where: string) => `<img src="x" id="injected-${where}"><b id="injected-${where}-b">${where}</b>`;

let sys: TestSystem;

beforeAll(async () => {
  sys = await startSystem({ toml: TOML });
  await sys.client.submitTask({ taskId: ID, taskClass: 'cpu_long', payload: { note: html('payload') } });
  await sys.client.cancelTask(ID);
  expect((await sys.client.getTaskStatus(ID)).state).toBe(TaskState.TASK_STATE_CANCELLED);
  const job = sys.keys.job('cpu_long', ID);
  await sys.r.hset(
    job,
    'failedReason',
    `cancelled: ${html('reason')}`,
    'stacktrace',
    JSON.stringify([html('stack')]),
    'progress',
    JSON.stringify(html('progress')),
  );
  await sys.r.xadd(
    sys.keys.events,
    '*',
    'type',
    'progress',
    'task_id',
    ID,
    'class',
    'cpu_long',
    'attempt',
    '1',
    'at',
    String(Date.now()),
    'detail',
    html('event'),
  );
});
afterAll(async () => sys?.stop());

describe.skipIf(!chromiumAvailable())('hostile Redis contents in a browser', () => {
  let browser: Browser;
  let admin: BrowserContext;
  beforeAll(async () => {
    browser = await launchChromium();
    admin = await browser.newContext({ httpCredentials: ADMIN, viewport: { width: 1300, height: 900 } });
  });
  afterAll(async () => browser?.close());

  const injected = (page: Page) => page.locator('[id^="injected-"]').count();

  it('shows HTML from Redis as text on the task page', async () => {
    const page = await admin.newPage();
    await page.goto(`${sys.httpUrl}/admin/tasks/${ID}`);
    await page.locator('body[data-loaded="true"]').waitFor();
    expect(await page.locator('#task-state').innerText()).toBe('cancelled');
    expect(await page.locator('#task-error').innerText()).toContain(html('reason'));
    expect(await page.locator('#task-spec').innerText()).toContain('injected-payload');
    expect(await page.locator('#events').innerText()).toContain(html('event'));
    expect(await injected(page)).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'hostile-task.png'), fullPage: true });
  });

  it("shows it as text in Bull Board, and refuses Bull Board's Retry of the cancelled task", async () => {
    const page = await admin.newPage();
    await page.goto(`${sys.httpUrl}/admin/queues/queue/cpu_long?status=failed`);
    await page.getByText(ID).first().waitFor();
    await page.getByText(html('reason')).first().waitFor();
    expect(await injected(page)).toBe(0);
    // Data and Progress go through Bull Board's highlighter, which sets its output as HTML.
    for (const [tab, where] of [
      ['Data', 'payload'],
      ['Progress', 'progress'],
    ]) {
      await page.getByText(tab, { exact: true }).first().click();
      await page.getByText(`injected-${where}`).first().waitFor();
      expect(await injected(page), tab).toBe(0);
    }
    const card = page.getByText(ID).first().locator('xpath=ancestor::*[.//button][1]');
    const retried = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith(`/api/queues/cpu_long/${ID}/retry`));
    await card.locator('button:has(svg.lucide-refresh-cw)').click();
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    expect((await retried).status()).toBe(409);
    await page.getByText('is cancelled, not failed').first().waitFor();
    expect(await injected(page)).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'hostile-bull-board.png'), fullPage: true });
    expect((await sys.client.getTaskStatus(ID)).state).toBe(TaskState.TASK_STATE_CANCELLED);
  });
});
