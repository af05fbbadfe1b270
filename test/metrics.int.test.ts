/**
 * /metrics, /health and /ready on the orchestrator and on a pool process, after real work: tasks
 * that succeed, retry, fail, time out and are cancelled. The scraped text must pass
 * `promtool check metrics`, and the shipped alert rules `promtool check rules`; every metric the
 * Grafana dashboard and the alert rules use must exist in real output.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/paths.js';
import { getText, promtool, runPromtool, sample } from './helpers/http.js';
import { startSystem, type PoolProcess, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

const PROMTOOL = promtool();
let sys: TestSystem;
let pool: PoolProcess;
let orchText = '';
let poolText = '';

beforeAll(async () => {
  sys = await startSystem();
  pool = await sys.startPool({ classes: 'cpu_short:4' });
  const c = sys.client;
  const ok = await c.submitTask({ taskClass: 'cpu_short', payload: { text: 'hi' } });
  const retried = await c.submitTask({
    taskClass: 'cpu_short',
    payload: { message: 'first fails', succeed_on_attempt: '2' },
    executor: { handler: 'fail' },
    maxAttempts: 2,
    backoff: { type: 'fixed', delayMs: 10 },
  });
  const failed = await c.submitTask({ taskClass: 'cpu_short', payload: { message: 'always' }, executor: { handler: 'fail' }, maxAttempts: 1 });
  const timedOut = await c.submitTask({ taskClass: 'cpu_short', payload: { ms: '10000' }, executor: { handler: 'sleep' }, timeoutMs: 200, maxAttempts: 1 });
  const cancelled = await c.submitTask({ taskClass: 'cpu_short', payload: { m: 'later' }, delayMs: 600_000 });
  await c.cancelTask(cancelled.taskId, 'not needed');
  for (const t of [ok, retried, failed, timedOut, cancelled]) await c.waitForResult(t.taskId, { timeoutMs: 30_000 });
  // Queue figures: one task waiting in a class no pool serves.
  await c.submitTask({ taskClass: 'cpu_long', payload: { m: 'waits' } });
  // The pool counts an attempt just after writing its result: wait for the last one.
  poolText = await waitFor(
    async () => {
      const { body } = await getText(`${pool.metricsUrl}/metrics`);
      return (sample(body, 'orq_pool_task_run_seconds_count', '{class="cpu_short",outcome="failed"}') ?? 0) >= 2 ? body : '';
    },
    { message: 'pool metrics never counted both failures' },
  );
  orchText = (await getText(`${sys.httpUrl}/metrics`)).body;
});
afterAll(async () => sys?.stop());

describe('orchestrator /metrics', () => {
  it('shows cluster counters by class from the counters hash', () => {
    const cls = '{class="cpu_short"}';
    expect(sample(orchText, 'orq_tasks_submitted_total', cls)).toBe(5);
    expect(sample(orchText, 'orq_tasks_succeeded_total', cls)).toBe(2);
    expect(sample(orchText, 'orq_tasks_failed_total', cls)).toBe(2);
    expect(sample(orchText, 'orq_tasks_cancelled_total', cls)).toBe(1);
    expect(sample(orchText, 'orq_tasks_retried_total', cls)).toBe(1);
    expect(sample(orchText, 'orq_tasks_timed_out_total', cls)).toBe(1);
  });

  it('shows queue depth, pools, streams and workflow runs at scrape time', () => {
    expect(sample(orchText, 'orq_queue_jobs', '{class="cpu_long",state="waiting"}')).toBe(1);
    expect(sample(orchText, 'orq_queue_jobs', '{class="cpu_short",state="completed"}')).toBe(2);
    expect(sample(orchText, 'orq_pools')).toBe(1);
    expect(sample(orchText, 'orq_class_pools_serving', '{class="cpu_short"}')).toBe(1);
    expect(sample(orchText, 'orq_class_pools_serving', '{class="cpu_long"}')).toBe(0);
    expect(sample(orchText, 'orq_class_concurrency', '{class="cpu_short"}')).toBe(4);
    expect(sample(orchText, 'orq_stream_length', '{stream="results"}')).toBeGreaterThanOrEqual(5);
    expect(sample(orchText, 'orq_stream_length', '{stream="workflow_inbox"}')).toBe(0);
    expect(sample(orchText, 'orq_stream_length', '{stream="workflow_inbox_dead"}')).toBe(0);
    expect(sample(orchText, 'orq_workflow_runs_active')).toBe(0);
    expect(sample(orchText, 'orq_schedules')).toBe(0);
    expect(sample(orchText, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('counts gRPC calls by method and code, with latency', () => {
    const labels = '{grpc_service="orchestrator.v1.OrchestratorService",grpc_method="SubmitTask",grpc_type="unary"';
    expect(sample(orchText, 'orq_grpc_server_handled_total', `${labels},grpc_code="OK"}`)).toBe(6);
    expect(sample(orchText, 'orq_grpc_server_handling_seconds_count', `${labels}}`)).toBe(6);
    expect(orchText).toMatch(/orq_grpc_server_handled_total\{[^}]*grpc_method="StreamTaskResults",grpc_type="server_stream",grpc_code="(OK|CANCELLED)"\}/);
  });
});

describe('pool /metrics', () => {
  it('counts attempts by outcome with run and wait time histograms', () => {
    const cls = 'class="cpu_short"';
    expect(sample(poolText, 'orq_pool_attempts_total', `{${cls},outcome="succeeded"}`)).toBe(2);
    expect(sample(poolText, 'orq_pool_attempts_total', `{${cls},outcome="retried"}`)).toBe(1);
    expect(sample(poolText, 'orq_pool_attempts_total', `{${cls},outcome="failed"}`)).toBe(2);
    expect(sample(poolText, 'orq_pool_attempts_timed_out_total', `{${cls}}`)).toBe(1);
    // First attempts of the four tasks that ran (the cancelled one never started).
    expect(sample(poolText, 'orq_pool_task_queue_wait_seconds_count', `{${cls}}`)).toBe(4);
    expect(sample(poolText, 'orq_pool_concurrency', `{${cls}}`)).toBe(4);
    expect(sample(poolText, 'orq_pool_busy_slots', `{${cls}}`)).toBe(0);
  });
});

describe('promtool and the deploy/ files', () => {
  it.skipIf(!PROMTOOL)('real output passes promtool check metrics', () => {
    for (const text of [orchText, poolText]) {
      const r = runPromtool(PROMTOOL!, ['check', 'metrics'], text);
      expect(r.output).toBe('');
      expect(r.status).toBe(0);
    }
  });

  it.skipIf(!PROMTOOL)('the alert rules pass promtool check rules', () => {
    const r = runPromtool(PROMTOOL!, ['check', 'rules', join(PROJECT_ROOT, 'deploy/prometheus/alerts.yml')]);
    expect(r.output).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it('the dashboard and the rules use only metrics that exist', () => {
    // Sample names, and family names (a histogram's own name appears only in its # TYPE line).
    const exposed = new Set([...`${orchText}\n${poolText}`.matchAll(/^(?:# TYPE )?([a-z_:]+)[{ ]/gm)].map((m) => m[1]!));
    const grafana = readFileSync(join(PROJECT_ROOT, 'deploy/grafana/orchestrator.json'), 'utf8');
    expect(JSON.parse(grafana).panels.length).toBeGreaterThan(5);
    const rules = readFileSync(join(PROJECT_ROOT, 'deploy/prometheus/alerts.yml'), 'utf8');
    const used = new Set([...`${grafana}\n${rules}`.matchAll(/\b((?:orq|process)_[a-z_]+)/g)].map((m) => m[1]!));
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((name) => !exposed.has(name))).toEqual([]);
  });
});

describe('/health and /ready', () => {
  it('answer 200 on both processes while Redis is up, /ready 503 once it is gone', async () => {
    for (const base of [sys.httpUrl, pool.metricsUrl]) {
      expect((await getText(`${base}/health`)).status).toBe(200);
      expect((await getText(`${base}/ready`)).status).toBe(200);
    }
    await sys.redis.stop();
    for (const base of [sys.httpUrl, pool.metricsUrl]) {
      await waitFor(async () => (await getText(`${base}/ready`)).status === 503, { message: `${base}/ready never said 503` });
      expect((await getText(`${base}/health`)).status).toBe(200);
    }
  });
});
