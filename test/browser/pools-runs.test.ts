/**
 * The pools page and the workflow runs list in headless Chromium, with screenshots under
 * test/artifacts/: an admin sees live pools with their busy slots, drains one after confirming
 * (and the pool reports draining over gRPC) and resumes it, a viewer sees no drain button and is
 * refused one;
 * a pool entry with markup in it is shown as text; the runs list filters by state and leads to
 * a run page whose steps show their duration, result and links to the task and its job.
 */
import { join } from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PoolState, WorkflowRunState } from '../../src/client/orchestrator-client.js';
import { ARTIFACTS_DIR, chromiumAvailable, launchChromium } from '../helpers/browser.js';
import { ADMIN, VIEWER, dashboardAccessToml } from '../helpers/dashboard-access.js';
import { startSystem, TEST_CONFIG_TOML, type PoolProcess, type TestSystem } from '../helpers/system.js';
import { waitFor } from '../helpers/wait.js';

const TOML = `${TEST_CONFIG_TOML}
${dashboardAccessToml({ users: true })}`;

const haveChromium = chromiumAvailable();
let sys: TestSystem;
let browser: Browser;
let admin: BrowserContext;
let viewer: BrowserContext;
let a: PoolProcess;
let b: PoolProcess;
const EVIL_ID = 'evil-<b>pool</b>';
const EVIL_HOST = '<img src=x onerror="window.pwned=1">';

beforeAll(async () => {
  if (!haveChromium) return;
  sys = await startSystem({ toml: TOML });
  [a, b] = await Promise.all([sys.startPool({ classes: 'inproc:2' }), sys.startPool({ classes: 'cpu_long:1' })]);
  // Keeps pool b's one slot busy for the whole suite.
  await sys.client.submitTask({ taskId: 'busy-long', taskClass: 'cpu_long', payload: { ms: '120000' }, executor: { handler: 'sleep' } });
  // Written into the registry by something other than a pool: markup in its id and host.
  await sys.r.zadd(sys.keys.pools, Date.now() + 60_000, EVIL_ID);
  await sys.r.hset(sys.keys.pool(EVIL_ID), { host: EVIL_HOST, pid: '1', classes: '{"inproc":1}', at: String(Date.now()) });
  await sys.client.createWorkflow({
    name: 'br-ok',
    steps: [
      { stepId: 'nap', task: { taskClass: 'inproc', payload: { ms: '300' }, executor: { handler: 'sleep' } } },
      { stepId: 'echo', dependsOn: ['nap'], task: { taskClass: 'inproc', payload: { said: 'hello' } } },
    ],
  });
  await sys.client.createWorkflow({
    name: 'br-fail',
    steps: [{ stepId: 'bad', task: { taskClass: 'inproc', payload: { message: 'boom', retryable: 'false' }, executor: { handler: 'fail' } } }],
  });
  for (const [name, runId] of [
    ['br-ok', 'br-ok-1'],
    ['br-fail', 'br-fail-1'],
    ['br-ok', 'br-ok-2'],
  ]) {
    await sys.client.startWorkflowRun({ name: name!, inputs: {}, runId });
    await waitFor(async () => (await sys.client.getWorkflowRun(runId!)).state !== WorkflowRunState.WORKFLOW_RUN_STATE_RUNNING, { timeoutMs: 30_000 });
  }
  await waitFor(async () => (await sys.client.listPools()).find((p) => p.poolId === b.id)?.busy === 1, { timeoutMs: 30_000 });
  browser = await launchChromium();
  admin = await browser.newContext({ httpCredentials: ADMIN, viewport: { width: 1400, height: 800 } });
  viewer = await browser.newContext({ httpCredentials: VIEWER, viewport: { width: 1400, height: 800 } });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await sys?.stop();
});

describe.skipIf(!haveChromium)('pools page', { timeout: 90_000 }, () => {
  it('shows live pools with busy slots, and lets an admin drain one after confirming', async () => {
    const page = await admin.newPage();
    await page.goto(`${sys.httpUrl}/admin/pools`);
    const rowA = page.locator(`tr[data-pool-id="${a.id}"]`);
    const rowB = page.locator(`tr[data-pool-id="${b.id}"]`);
    await rowB.waitFor();
    await expect.poll(() => rowB.locator('td').nth(5).textContent()).toBe('1/1');
    expect(await rowB.locator('td').nth(4).textContent()).toBe('cpu_long 1/1');
    expect(await rowA.locator('td').nth(1).textContent()).toBe('running');
    expect(await page.locator('#summary').textContent()).toMatch(/live pool\(s\), 1 of \d+ slots busy/);
    // The hostile entry is text, not markup.
    const evil = page.locator('tr', { hasText: 'evil-<b>pool</b>' });
    expect(await evil.locator('td').nth(2).textContent()).toContain(EVIL_HOST);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'pools.png'), fullPage: true });

    await rowA.locator('button.drain').click();
    await page.locator('#confirm').waitFor({ state: 'visible' });
    expect(await page.locator('#confirm-pool').textContent()).toBe(a.id);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'pools-drain-confirm.png'), fullPage: true });
    await page.locator('#confirm-yes').click();
    await expect.poll(() => rowA.getAttribute('data-state'), { timeout: 15_000 }).toBe('draining');
    expect((await sys.client.listPools()).find((p) => p.poolId === a.id)?.state).toBe(PoolState.POOL_STATE_DRAINING);
    expect(await rowA.locator('button.drain').count()).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'pools-draining.png'), fullPage: true });
    // And back: Resume undoes a drain without exit.
    await rowA.locator('button.resume').click();
    await expect.poll(() => rowA.getAttribute('data-state'), { timeout: 15_000 }).toBe('running');
    expect((await sys.client.listPools()).find((p) => p.poolId === a.id)?.state).toBe(PoolState.POOL_STATE_RUNNING);
    await page.close();
  });

  it('offers a viewer no drain and refuses one it sends anyway', async () => {
    const page = await viewer.newPage();
    await page.goto(`${sys.httpUrl}/admin/pools`);
    await page.locator(`tr[data-pool-id="${b.id}"]`).waitFor();
    expect(await page.locator('button.drain').count()).toBe(0);
    const status = await page.evaluate(async (poolId) => {
      const res = await fetch('api/pools/drain', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ poolId }) });
      return res.status;
    }, b.id);
    expect(status).toBe(403);
    expect((await sys.client.listPools()).find((p) => p.poolId === b.id)?.draining).toBe(false);
    await page.close();
  });

  it('refuses a drain from another site, even with admin credentials', async () => {
    const auth = `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`;
    const res = await fetch(`${sys.httpUrl}/admin/api/pools/drain`, {
      method: 'POST',
      headers: { authorization: auth, origin: 'http://evil.example', 'content-type': 'application/json' },
      body: JSON.stringify({ poolId: b.id }),
    });
    expect(res.status).toBe(403);
    const bad = await fetch(`${sys.httpUrl}/admin/api/pools/drain`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: '{not json',
    });
    expect(bad.status).toBe(400);
    expect(await bad.text()).not.toMatch(/at .*\.js/);
    expect((await sys.client.listPools()).find((p) => p.poolId === b.id)?.draining).toBe(false);
    // The runs list's JSON names the parameter it refuses.
    for (const [query, field] of [
      ['state=sleeping', 'state'],
      ['pageSize=9999', 'page_size'],
      ['since=yesterday', 'since'],
      ['pageToken=%3Cscript%3E', 'page_token'],
    ]) {
      const r = await fetch(`${sys.httpUrl}/admin/api/workflow-runs?${query}`, { headers: { authorization: auth } });
      expect(r.status, query).toBe(400);
      expect(((await r.json()) as { field: string }).field).toBe(field);
    }
  });
});

describe.skipIf(!haveChromium)('workflow runs list and run page', { timeout: 90_000 }, () => {
  it('lists runs newest first, filters by state, and leads to the run page with step durations and links', async () => {
    const page = await admin.newPage();
    await page.goto(`${sys.httpUrl}/admin/workflows`);
    await page.locator('tr[data-run-id="br-ok-2"]').waitFor();
    expect(await page.locator('#runs tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.runId))).toEqual([
      'br-ok-2',
      'br-fail-1',
      'br-ok-1',
    ]);
    expect(await page.locator('tr[data-run-id="br-ok-2"] td').nth(3).textContent()).toBe('2/2');
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'workflow-runs.png'), fullPage: true });

    await page.locator('#f-state').selectOption('failed');
    await page.locator('#filters button[type=submit]').click();
    await page.waitForURL(/state=failed/);
    await page.locator('tr[data-run-id="br-fail-1"]').waitFor();
    expect(await page.locator('#runs tbody tr').count()).toBe(1);
    expect(await page.locator('tr[data-run-id="br-fail-1"] td').nth(6).textContent()).toMatch(/bad/);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'workflow-runs-failed.png'), fullPage: true });

    await page.goto(`${sys.httpUrl}/admin/workflows?workflow=br-ok`);
    await page.locator('tr[data-run-id="br-ok-1"] a').click();
    await page.waitForURL(/\/admin\/workflows\/br-ok-1$/);
    const nap = page.locator('#steps tr[data-step-id="nap"]');
    await nap.waitFor();
    // The sleep step took its 300 ms and a little more.
    const took = await nap.locator('td.took').textContent();
    expect(Number(/^([\d.]+) s$/.exec(took ?? '')?.[1])).toBeGreaterThanOrEqual(0.3);
    expect(await page.locator('#steps tr[data-step-id="echo"] td.outcome').textContent()).toContain('hello');
    const taskHref = await nap.locator('a.task-link').evaluate((el) => (el as HTMLAnchorElement).href);
    expect(new URL(taskHref).pathname).toBe('/admin/tasks/br-ok-1.nap');
    const jobHref = await nap.locator('a.job-link').evaluate((el) => (el as HTMLAnchorElement).href);
    expect(new URL(jobHref).pathname).toBe('/admin/queues/queue/inproc/br-ok-1.nap');
    expect((await page.request.get(jobHref)).status()).toBe(200);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'workflow-run-steps.png'), fullPage: true });
    await page.close();
  });
});
