/**
 * The Python package's clients (clients/python/orchestrator/client) against a live system: one
 * orchestrator with bearer tokens, the same system behind mutual TLS, a pool serving cpu_short
 * with the test handlers. The package is installed the README's way into one venv and its
 * unittest suites (clients/python/tests/test_client*.py) run in one Python process; this file
 * checks that it exits 0 and that each expected test passed (a skipped or missing test fails).
 * Debian's python3-grpcio and python3-protobuf provide the modules; without them the suite skips
 * on a laptop and fails under CI=true (test/helpers/python.ts).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrchestratorClient } from '../src/client/orchestrator-client.js';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/logging/logger.js';
import { Orchestrator } from '../src/orchestrator.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { makeTestCerts, type TestCerts } from './helpers/certs.js';
import { installPythonPackage, pythonAvailable, runPythonTests, type PythonEnv } from './helpers/python.js';
import { startSystem, TEST_CONFIG_TOML, type OrchestratorProcess, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

const ADMIN_TOKEN = 'py-admin-token-0123456789abcdef';
const READ_TOKEN = 'py-read-token-0123456789abcdef';
/** A token whose submit rate (one task, then one per 100 s) the suites go over on purpose. */
const SLOW_TOKEN = 'py-slow-token-0123456789abcdef';

const available = pythonAvailable('python client');
let sys: TestSystem;
let tlsOrchestrator: Orchestrator | undefined;
let certs: TestCerts;
let py: PythonEnv | undefined;
let env: Record<string, string>;

beforeAll(async () => {
  if (!available) return;
  certs = makeTestCerts();
  // pip builds the package while the system starts.
  const installing = installPythonPackage();
  installing.catch(() => undefined);
  sys = await startSystem({
    toml: `${TEST_CONFIG_TOML}\n[[grpc.auth.tokens]]\ntoken = "${ADMIN_TOKEN}"\nrole = "admin"\n[[grpc.auth.tokens]]\ntoken = "${READ_TOKEN}"\nrole = "read"\n[[grpc.auth.tokens]]\ntoken = "${SLOW_TOKEN}"\nrole = "submit"\nsubmitRateLimit = { perSecond = 0.01, burst = 1 }\n`,
  });
  // The same system (config, Redis, prefix) behind mutual TLS: a second front end.
  const tlsConfig = loadConfig({
    file: sys.configFile,
    env: {},
    overrides: {
      redis: { url: sys.redis.url },
      grpc: {
        addr: '127.0.0.1:0',
        tls: { certFile: certs.serverCert, keyFile: certs.serverKey, clientCaFile: certs.caCert, requireClientCert: true },
      },
      http: { addr: '127.0.0.1:0', dashboard: { generatedTokenFile: join(mkdtempSync(join(tmpdir(), 'orq-py-tls-')), 'dashboard-token') } },
    },
  });
  tlsOrchestrator = new Orchestrator({ config: tlsConfig, redisUrl: sys.redis.url, logger: createLogger('warn', { process: 'test-orchestrator-tls' }) });
  await tlsOrchestrator.start();
  await sys.startPool({ classes: 'cpu_short' });
  py = await installing;
  env = {
    ORQ_TEST_ADDR: sys.addr,
    ORQ_TEST_TOKEN: ADMIN_TOKEN,
    ORQ_TEST_READ_TOKEN: READ_TOKEN,
    ORQ_TEST_SLOW_TOKEN: SLOW_TOKEN,
    ORQ_TEST_TLS_ADDR: `127.0.0.1:${tlsOrchestrator.grpcPort}`,
    ORQ_TEST_TLS_CA: certs.caCert,
    ORQ_TEST_TLS_CERT: certs.clientCert,
    ORQ_TEST_TLS_KEY: certs.clientKey,
    // gRPC core logs a refused TLS handshake on stderr, in the middle of unittest's report lines.
    GRPC_VERBOSITY: 'NONE',
  };
}, 120_000);

afterAll(async () => {
  await tlsOrchestrator?.close(500);
  await sys?.stop();
  py?.remove();
});

/** Every test of the suites, as unittest prints it: `name (module.Class.name) ... ok`. */
const EXPECTED: Record<string, string[]> = {
  'test_client_aio.AsyncClientTest': [
    'test_health_and_metrics',
    'test_submit_and_wait_for_result',
    'test_submit_is_idempotent_on_task_id',
    'test_submit_many',
    'test_submit_stream',
    'test_submit_stream_gives_up_past_the_deadline',
    'test_submit_stream_needs_the_submit_role',
    'test_failed_task_gives_its_failure_or_raises',
    'test_logs_of_a_failed_task',
    'test_bad_input_raises_invalid_argument_naming_the_field',
    'test_bad_input_refused_by_the_client_names_the_field',
    'test_unknown_ids_raise_not_found',
    'test_cancel_a_running_task',
    'test_retry_a_failed_task',
    'test_list_tasks_by_filter',
    'test_events_resume_from_a_cursor',
    'test_events_stream_resumes_after_the_connection_breaks',
    'test_workflow_run_watched_to_its_end',
    'test_invalid_workflow_names_the_field',
    'test_schedules',
    'test_deadlines',
    'test_tokens',
    'test_call_metadata_is_asked_for_each_call',
    'test_resource_exhausted_carries_retry_after',
    'test_mutual_tls',
    'test_class_limits_and_pools',
  ],
  'test_client_sync.BlockingClientTest': [
    'test_submit_stream',
    'test_submit_and_wait_for_result',
    'test_failed_task_and_errors',
    'test_results_stream_resumes_after_the_connection_breaks',
    'test_events_iterator_and_cursor',
    'test_workflow_run_watched_to_its_end',
    'test_list_tasks_pages',
    'test_closed_client_refuses_calls',
    'test_client_used_from_threads',
  ],
};

describe.skipIf(!available)('the Python client package', () => {
  it('passes its unittest suites against a live orchestrator, with tokens and mutual TLS', async () => {
    const r = await runPythonTests(py!, 'test_client*.py', env, 120_000);
    expect(r.code, r.out).toBe(0);
    // unittest -v prints `name (module.Class.name) ... ok` on its stderr, where anything else
    // written there may land between the name and the verdict: the names are checked one by
    // one, the verdicts by the summary (no failure, no error, nothing skipped, all of them ran).
    const all = Object.entries(EXPECTED).flatMap(([where, names]) => names.map((name) => `${name} (${where}.${name})`));
    for (const header of all) expect(r.out).toContain(header);
    expect(r.out).toContain(`Ran ${all.length} tests`);
    expect(r.out).toMatch(/^OK$/m);
  }, 180_000);
});

describe.skipIf(!available)('the Python examples (examples/python/)', () => {
  const example = (name: string, ...args: string[]) =>
    py!.run([join(PROJECT_ROOT, 'examples/python', name), '--addr', sys.addr, '--token', ADMIN_TOKEN, ...args], { env: { GRPC_VERBOSITY: 'NONE' } });

  it('submit_and_wait.py: a result; a failed task with its failure and logs; a refused submission', async () => {
    const ok = await example('submit_and_wait.py', '--payload', 'text=from python');
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toMatch(/^result \S+ succeeded attempt=1 \{"text":"from python"\}$/m);
    const failed = await example(
      'submit_and_wait.py',
      '--handler',
      'fail',
      '--payload',
      'log=hi',
      '--payload',
      'message=bad row 7',
      '--payload',
      'retryable=false',
      '--logs',
    );
    expect(failed.code, failed.out).toBe(1);
    expect(failed.out).toMatch(/^result \S+ failed attempt=1 bad row 7$/m);
    expect(failed.out).toContain('failure kind=task_failed retryable=False');
    expect(failed.out).toContain('log 1 log hi\nlog 1 stdout console: hi');
    const refused = await example('submit_and_wait.py', '--task-class', 'no_such_class');
    expect(refused.code, refused.out).toBe(2);
    expect(refused.out).toContain('submit failed: INVALID_ARGUMENT: task.task_class: unknown class "no_such_class"');
  });

  it('submit_stream.py: many tasks over one call, existing when sent again, refused each on its own', async () => {
    const prefix = `py-stream-example-${process.pid}`;
    const first = await example('submit_stream.py', '--count', '50', '--prefix', prefix, '--wait');
    expect(first.code, first.out).toBe(0);
    expect(first.out).toContain('submitted 50: created 50, existing 0, refused 0');
    expect(first.out).toContain('results: 50 succeeded, 0 not');
    const again = await example('submit_stream.py', '--count', '50', '--prefix', prefix);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain('submitted 50: created 0, existing 50, refused 0');
    const refused = await example('submit_stream.py', '--count', '3', '--task-class', 'no_such_class');
    expect(refused.code, refused.out).toBe(2);
    expect(refused.out).toContain('submitted 3: created 0, existing 0, refused 3');
    expect(refused.out).toContain('INVALID_ARGUMENT: task.task_class: unknown class "no_such_class"');
  });

  it('workflow.py: a two-step run watched to its end', async () => {
    const r = await example('workflow.py', '--name', `py-example-${process.pid}`, '--who', 'reader');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^step report succeeded \{"greeting":"hello reader"\}$/m);
    expect(r.out).toMatch(/^run succeeded$/m);
  });

  it('stream_results.py: a second start goes on after the result the first one handled', async () => {
    const client = new OrchestratorClient(sys.addr, { token: ADMIN_TOKEN });
    try {
      for (const n of ['1', '2'])
        await client.waitForResult((await client.submitTask({ taskClass: 'cpu_short', payload: { n } })).taskId, { timeoutMs: 30_000 });
    } finally {
      client.close();
    }
    const cursorFile = join(certs.dir, 'results.cursor');
    const first = await example('stream_results.py', '--cursor-file', cursorFile, '--count', '1');
    const second = await example('stream_results.py', '--cursor-file', cursorFile, '--count', '1');
    expect(first.code, first.out).toBe(0);
    expect(second.code, second.out).toBe(0);
    const taskOf = (out: string) => /^result (\S+) /m.exec(out)?.[1];
    expect(taskOf(first.out)).toBeDefined();
    expect(taskOf(second.out)).toBeDefined();
    expect(taskOf(second.out)).not.toBe(taskOf(first.out));
  });

  it('stream_results.py: the stream goes on from its cursor when its front end stops and comes back', async () => {
    const client = new OrchestratorClient(sys.addr, { token: ADMIN_TOKEN });
    const front = await sys.startOrchestrator();
    let again: OrchestratorProcess | undefined;
    // Start after the results there are: an entry id of now (README "Feeds").
    const cursorFile = join(certs.dir, 'restart.cursor');
    writeFileSync(cursorFile, `${Date.now()}-0`);
    const reader = spawn(
      py!.python,
      [join(PROJECT_ROOT, 'examples/python/stream_results.py'), '--addr', front.addr, '--token', ADMIN_TOKEN, '--cursor-file', cursorFile, '--count', '2'],
      {
        cwd: certs.dir,
        env: { PATH: process.env.PATH, PYTHONUNBUFFERED: '1', GRPC_VERBOSITY: 'NONE' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    reader.stdout.on('data', (d: Buffer) => (out += d.toString()));
    reader.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | string>((resolve) => reader.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
    try {
      const a = (await client.submitTask({ taskClass: 'cpu_short', payload: { n: 'before' } })).taskId;
      await waitFor(() => out.includes(`result ${a} succeeded`), { timeoutMs: 30_000, message: `the first result\n${out}` });
      // A front end stopping ends its streams UNAVAILABLE; the client reopens from its cursor.
      front.kill('SIGTERM');
      expect(await front.exited).toBe(0);
      again = await sys.startOrchestrator({ addr: front.addr });
      const b = (await client.submitTask({ taskClass: 'cpu_short', payload: { n: 'after' } })).taskId;
      expect(await exited, out).toBe(0);
      expect(out.match(/^result .*$/gm)).toEqual([`result ${a} succeeded {"n":"before"}`, `result ${b} succeeded {"n":"after"}`]);
    } finally {
      client.close();
      if (reader.exitCode === null && reader.signalCode === null) reader.kill('SIGKILL');
      await exited;
      again?.kill('SIGTERM');
      await again?.exited;
    }
    expect(reader.exitCode).not.toBeNull();
  });
});
