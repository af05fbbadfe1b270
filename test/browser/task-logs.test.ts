/**
 * Task logs in Bull Board: the job page of a failed command, in headless Chromium, shows the
 * command's stderr and stdout in its Logs tab (BullMQ's job log list, where the pool writes each
 * attempt's lines), with a screenshot under test/artifacts/.
 */
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState } from '../../src/client/orchestrator-client.js';
import { ARTIFACTS_DIR, chromiumAvailable, launchChromium } from '../helpers/browser.js';
import { ADMIN, dashboardAccessToml } from '../helpers/dashboard-access.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from '../helpers/system.js';

const TOML = `${TEST_CONFIG_TOML}
${dashboardAccessToml({ users: true, viewer: false })}`;
const TASK_ID = 'logs-in-bull-board';

const available = chromiumAvailable();
let sys: TestSystem;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!available) return;
  sys = await startSystem({ toml: TOML });
  await sys.startPool({ classes: 'cpu_short:2' });
  await sys.client.submitTask({
    taskId: TASK_ID,
    taskClass: 'cpu_short',
    payload: { drill: 'logs' },
    executor: { command: { argv: ['sh', '-c', 'echo "reading input.csv"; echo "input.csv: no such file" >&2; exit 4'] } },
  });
  expect((await sys.client.waitForResult(TASK_ID)).state).toBe(TaskState.TASK_STATE_FAILED);
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await sys?.stop();
});

describe.skipIf(!available)("Bull Board's Logs tab", () => {
  it("shows a failed command's stderr and stdout, marked with attempt and stream", { timeout: 60_000 }, async () => {
    const context = await browser!.newContext({ httpCredentials: ADMIN, viewport: { width: 1400, height: 900 } });
    try {
      const page = await context.newPage();
      await page.goto(`${sys.httpUrl}/admin/queues/queue/cpu_short/${TASK_ID}`);
      await page.getByText(TASK_ID).first().waitFor();
      await page
        .getByRole('button', { name: 'Logs', exact: true })
        .or(page.getByText('Logs', { exact: true }))
        .first()
        .click();
      const stderr = page.getByText(/\[attempt 1\] stderr: input\.csv: no such file/).first();
      await stderr.waitFor();
      await page
        .getByText(/\[attempt 1\] stdout: reading input\.csv/)
        .first()
        .waitFor();
      expect(await page.locator('body').innerText()).not.toContain('No logs available');
      await page.screenshot({ path: join(ARTIFACTS_DIR, 'task-logs-bull-board.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });
});
