/**
 * The Python task runner (clients/python/orchestrator/runner/), installed the README's way into a
 * venv. First its unittest suites (clients/python/tests/test_runner*.py), which drive it over
 * real gRPC as a pool would: Describe, results, progress and logs in order, failures, unknown
 * tasks, cancel by the call and by Cancel in async and sync functions, deadlines, the
 * concurrency limit, a second delivery, tokens, TLS, and the command line's graceful shutdown.
 * Then the real thing: Python runner processes (`python -m orchestrator.runner`, serving
 * clients/python/tests/test_runner_tasks.py) called by real pool processes through the `runner`
 * executor, for tasks submitted over gRPC.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState } from '../src/client/orchestrator-client.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { allProcesses, cmdline, describeProcess } from './helpers/process-tree.js';
import { installPythonPackage, PYTHON_PACKAGE_DIR, pythonAvailable, runPythonTests, type PythonEnv } from './helpers/python.js';
import { makeTestCerts, type TestCerts } from './helpers/certs.js';
import { resultFields } from './helpers/results.js';
import { startSystem, TEST_CONFIG_TOML, type PoolProcess, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';
import { freePort } from './helpers/free-port.js';

const available = pythonAvailable('python runner');
let py: PythonEnv | undefined;

beforeAll(async () => {
  if (available) py = await installPythonPackage();
}, 180_000);
afterAll(() => py?.remove());

/** Processes started from the suite's venv that are still running. */
function leftFromVenv(env: PythonEnv) {
  return allProcesses().filter((p) => p.state !== 'Z' && cmdline(p.pid).startsWith(env.python));
}

describe.skipIf(!available)('the Python task runner, by its own suites over gRPC', () => {
  it('passes test_runner*.py and leaves no runner process behind', async () => {
    const env = py!;
    const r = await runPythonTests(env, 'test_runner*.py', {});
    expect(r.code, r.out).toBe(0);
    // Code 0 and OK: every test passed; the names show the ones this suite is about ran.
    expect(r.out).toMatch(/^OK$/m);
    const ran = Number(/^Ran (\d+) tests/m.exec(r.out)?.[1]);
    expect(ran, r.out).toBeGreaterThanOrEqual(30);
    for (const name of [
      'test_progress_and_log_lines_in_order_then_the_result',
      'test_cancel_rpc_stops_a_sync_function_and_ends_its_call_with_a_failure',
      'test_the_deadline_cancels_an_async_function_with_a_timed_out_failure',
      'test_one_call_beyond_max_concurrency_is_resource_exhausted',
      'test_a_second_delivery_replaces_the_running_attempt_even_when_full',
      'test_calls_without_the_token_are_unauthenticated',
      'test_sigterm_refuses_new_calls_and_lets_running_tasks_finish',
    ])
      expect(r.out).toContain(`\n${name} (`);
    expect(leftFromVenv(env).map(describeProcess)).toEqual([]);
  }, 300_000);
});

interface RunnerProcess {
  name: string;
  child: ChildProcess;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  output(): string;
}

const TASKS = join(PYTHON_PACKAGE_DIR, 'tests', 'test_runner_tasks.py');
/** Where the test functions leave their marks (RUNNER_MARKS); made by the pool suite's beforeAll. */
let marks = '';
const runners: RunnerProcess[] = [];

/** `python -m orchestrator.runner test_runner_tasks.py:runner` named `name` on `port`; resolves once it serves. */
async function startRunner(
  name: string,
  port: number,
  opts: { maxConcurrency?: number; token?: string; target?: string; tls?: string[] } = {},
): Promise<RunnerProcess> {
  const args = [
    '-m',
    'orchestrator.runner',
    opts.target ?? `${TASKS}:runner`,
    '--address',
    `127.0.0.1:${port}`,
    '--grace-seconds',
    '1',
    '--force-seconds',
    '1',
  ];
  if (opts.maxConcurrency) args.push('--max-concurrency', String(opts.maxConcurrency));
  if (opts.tls) args.push(...opts.tls);
  const child = spawn(py!.python, args, {
    // Not the checkout: `import orchestrator` must find the installed package.
    cwd: tmpdir(),
    env: {
      PATH: process.env.PATH,
      PYTHONUNBUFFERED: '1',
      PYTHONDONTWRITEBYTECODE: '1',
      RUNNER_NAME: name,
      RUNNER_MARKS: marks,
      ...(opts.token ? { ORCHESTRATOR_RUNNER_TOKEN: opts.token } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const proc = { name, child, exited, output: () => out };
  runners.push(proc);
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`runner ${name} exited at start (${child.exitCode}):\n${out}`);
      return out.includes(` on 127.0.0.1:${port}\n`);
    },
    { timeoutMs: 30_000, message: `runner ${name} never served` },
  );
  return proc;
}

/** What a test function left in the marks folder for (task, attempt, event), or undefined. */
function marked(taskId: string, attempt: number, event: 'started' | 'cancelled'): string | undefined {
  const file = join(marks, `${taskId}.${attempt}.${event}`);
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

const CLASS = (name: string, runnerNames: string[]) =>
  `[classes.${name}]\npolicy = { executors = ["handler", "runner"], runner = { runners = ${JSON.stringify(runnerNames)} } }\n` +
  'concurrency = 4\nattempts = 1\nlockDurationMs = 2000\nstalledIntervalMs = 1000\n';

const state = (s: TaskState) => TaskState[s];
const POOL_CLASSES = 'py_main,py_late,py_kill,py_shared,py_example,py_tls';

describe.skipIf(!available)('Python task runners behind real pools (the runner executor)', () => {
  let sys: TestSystem;
  let pool: PoolProcess;
  const ports = { py: 0, late: 0, k: 0, b: 0, c: 0, ex: 0, sec: 0 };
  let certs: TestCerts;

  /** The task's entries of the events stream (its feed), as "type field value ..." lines. */
  async function events(taskId: string, type?: string): Promise<string[]> {
    return (await sys.r.xrange(sys.keys.events, '-', '+')).filter(([, f]) => f[3] === taskId && (!type || f[1] === type)).map(([, f]) => f.join(' '));
  }

  /**
   * Waits until the pool uses runner `name` of `taskClass`: a pool describes a runner it found
   * down again only when a task needs it, so a task retried until it runs there.
   */
  async function poolUses(taskClass: string, name: string): Promise<void> {
    const { taskId } = await sys.client.submitTask({
      taskClass,
      payload: { warm: 'up' },
      maxAttempts: 100,
      backoff: { type: 'fixed', delayMs: 100 },
      executor: { runner: { task: 'report', runner: name } },
    });
    const r = await sys.client.waitForResult(taskId, { timeoutMs: 30_000 });
    expect(state(r.state), r.error).toBe('TASK_STATE_SUCCEEDED');
  }

  beforeAll(async () => {
    marks = mkdtempSync(join(tmpdir(), 'orq-py-marks-'));
    certs = makeTestCerts();
    for (const name of Object.keys(ports) as (keyof typeof ports)[]) ports[name] = await freePort();
    const toml = `${TEST_CONFIG_TOML}
[executors.runner]
cancelGraceMs = 2000
reconnectMs = 200
connectTimeoutMs = 1500
[executors.runner.runners.py]
address = "127.0.0.1:${ports.py}"
token = "py-s3cret"
[executors.runner.runners.late]
address = "127.0.0.1:${ports.late}"
[executors.runner.runners.k]
address = "127.0.0.1:${ports.k}"
[executors.runner.runners.b]
address = "127.0.0.1:${ports.b}"
[executors.runner.runners.c]
address = "127.0.0.1:${ports.c}"
[executors.runner.runners.ex]
address = "127.0.0.1:${ports.ex}"
[executors.runner.runners.sec]
address = "127.0.0.1:${ports.sec}"
tls = { ca = "${certs.caCert}", cert = "${certs.clientCert}", key = "${certs.clientKey}", serverName = "localhost" }
${CLASS('py_main', ['py'])}
${CLASS('py_late', ['late'])}
${CLASS('py_kill', ['k'])}
${CLASS('py_shared', ['b', 'c'])}
${CLASS('py_example', ['ex'])}
${CLASS('py_tls', ['sec'])}
`;
    await startRunner('py', ports.py, { token: 'py-s3cret' });
    sys = await startSystem({ toml });
    // "late" is down when the pool starts: it is started by its test.
    pool = await sys.startPool({ classes: POOL_CLASSES });
    await poolUses('py_main', 'py');
  }, 120_000);

  afterAll(async () => {
    await sys?.stop();
    for (const r of runners) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    await Promise.all(runners.map((r) => r.exited));
    if (marks) rmSync(marks, { recursive: true, force: true });
    if (certs) rmSync(certs.dir, { recursive: true, force: true });
  });

  it("puts the function's progress on the task's feed and its log lines in GetTaskLogs, and takes its result", async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'py_main', payload: { n: '7' }, timeoutMs: 30_000, executor: { runner: { task: 'report' } } });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state), r.error).toBe('TASK_STATE_SUCCEEDED');
    const result = JSON.parse(r.resultJson) as { got: unknown; runner: string; attempt: number; max_attempts: number; task_class: string; deadline_ms: number };
    expect(result).toMatchObject({ got: { n: '7' }, runner: 'py', attempt: 1, max_attempts: 1, task_class: 'py_main' });
    expect(result.deadline_ms).toBeGreaterThan(Date.now());
    expect(result.deadline_ms).toBeLessThanOrEqual(Date.now() + 30_000);
    // ctx.log, then print() to stdout and to stderr, each on its stream.
    const logs = await sys.client.getTaskLogs(taskId);
    expect(logs.lines.map((l) => [l.stream, l.text])).toEqual([
      [3, 'starting'],
      [1, 'to stdout'],
      [2, 'to stderr'],
    ]);
    const progress = await events(taskId, 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress.at(-1)).toMatch(/\b100\b/);
    expect((await sys.client.getTaskStatus(taskId)).progressJson).toBe('100');
  });

  it('fails the attempt as the function says: TaskFailure without retry, an exception with retries', async () => {
    const refused = await sys.client.submitTask({ taskClass: 'py_main', payload: { a: '1' }, maxAttempts: 3, executor: { runner: { task: 'refuse' } } });
    const r = await sys.client.waitForResult(refused.taskId);
    expect(state(r.state)).toBe('TASK_STATE_FAILED');
    expect(r.attempt).toBe(1);
    expect(r.error).toBe('row 7 is malformed');
    expect(JSON.parse((await resultFields(sys.r, sys.keys, refused.taskId))!.result!)).toMatchObject({ runner: 'py', errorType: 'TaskFailure', row: 7 });

    const flaky = await sys.client.submitTask({
      taskClass: 'py_main',
      payload: { a: '1' },
      maxAttempts: 3,
      backoff: { type: 'fixed', delayMs: 50 },
      executor: { runner: { task: 'flaky' } },
    });
    const f = await sys.client.waitForResult(flaky.taskId);
    expect(state(f.state), f.error).toBe('TASK_STATE_SUCCEEDED');
    expect(JSON.parse(f.resultJson)).toEqual({ attempt: 2 });
    expect((await events(flaky.taskId, 'retrying')).join('\n')).toContain('the database went away');
  });

  it('CancelTask reaches a blocking Python function through ctx.cancelled', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'py_main', payload: { a: '1' }, executor: { runner: { task: 'wait' } } });
    await waitFor(() => marked(taskId, 1, 'started') !== undefined, { timeoutMs: 20_000, message: 'the function never started' });
    await sys.client.cancelTask(taskId, 'no longer needed');
    expect(state((await sys.client.waitForResult(taskId)).state)).toBe('TASK_STATE_CANCELLED');
    await waitFor(() => marked(taskId, 1, 'cancelled') !== undefined, { timeoutMs: 10_000, message: 'the function never saw its cancel' });
    expect(marked(taskId, 1, 'cancelled')).toBe('cancelled');
  });

  it("the attempt's timeout cancels an async Python function", async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'py_main',
      payload: { a: '1' },
      timeoutMs: 2500,
      executor: { runner: { task: 'wait_async' } },
    });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_FAILED');
    expect(r.error).toContain('timed out');
    await waitFor(() => marked(taskId, 1, 'cancelled') !== undefined, { timeoutMs: 10_000, message: 'the function never saw its timeout' });
    expect(marked(taskId, 1, 'cancelled')).toBe('timed_out');
  });

  it('a runner killed (SIGKILL) mid-call fails the attempt retryably; the task succeeds once the runner is back', async () => {
    const first = await startRunner('k1', ports.k);
    await poolUses('py_kill', 'k');
    const { taskId } = await sys.client.submitTask({
      taskClass: 'py_kill',
      payload: { seconds: '600' },
      // Attempts fail at once while the runner is down: enough of them for its restart.
      maxAttempts: 100,
      backoff: { type: 'fixed', delayMs: 200 },
      executor: { runner: { task: 'slow' } },
    });
    await waitFor(() => marked(taskId, 1, 'started') !== undefined, { timeoutMs: 20_000, message: 'the function never started' });
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    await waitFor(async () => (await events(taskId, 'retrying')).length > 0, { timeoutMs: 20_000, message: 'the attempt never failed retryably' });
    await startRunner('k2', ports.k);
    const r = await sys.client.waitForResult(taskId, { timeoutMs: 30_000 });
    expect(state(r.state), r.error).toBe('TASK_STATE_SUCCEEDED');
    expect(JSON.parse(r.resultJson)).toMatchObject({ runner: 'k2' });
    expect(r.attempt).toBeGreaterThan(1);
  });

  it('a runner down when the pool started is used once it serves', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'py_late',
      payload: { a: '1' },
      maxAttempts: 100,
      backoff: { type: 'fixed', delayMs: 200 },
      executor: { runner: { task: 'report' } },
    });
    await waitFor(async () => (await events(taskId, 'retrying')).some((e) => e.includes('could be reached')), {
      timeoutMs: 20_000,
      message: 'no retryable failure while the runner is down',
    });
    await startRunner('late', ports.late);
    const r = await sys.client.waitForResult(taskId, { timeoutMs: 30_000 });
    expect(state(r.state), r.error).toBe('TASK_STATE_SUCCEEDED');
    expect(JSON.parse(r.resultJson)).toMatchObject({ runner: 'late', got: { a: '1' } });
    expect(r.attempt).toBeGreaterThan(1);
  });

  it('two runners share a class: both get tasks, and one killed mid-call sees its task rerun on the other', async () => {
    const b = await startRunner('b', ports.b, { maxConcurrency: 1 });
    const c = await startRunner('c', ports.c, { maxConcurrency: 1 });
    await poolUses('py_shared', 'b');
    await poolUses('py_shared', 'c');
    // Each runner takes one call at a time and the class runs four: both are used.
    const ids = await Promise.all(
      Array.from(
        { length: 4 },
        async () => (await sys.client.submitTask({ taskClass: 'py_shared', payload: { seconds: '0.3' }, executor: { runner: { task: 'slow' } } })).taskId,
      ),
    );
    const ranOn = new Set<string>();
    for (const id of ids) {
      const r = await sys.client.waitForResult(id, { timeoutMs: 30_000 });
      expect(state(r.state), r.error).toBe('TASK_STATE_SUCCEEDED');
      ranOn.add((JSON.parse(r.resultJson) as { runner: string }).runner);
    }
    expect([...ranOn].sort()).toEqual(['b', 'c']);

    const { taskId } = await sys.client.submitTask({
      taskClass: 'py_shared',
      payload: { seconds: '600' },
      maxAttempts: 3,
      backoff: { type: 'fixed', delayMs: 100 },
      executor: { runner: { task: 'slow' } },
    });
    const victimName = await waitFor(() => marked(taskId, 1, 'started'), { timeoutMs: 20_000, message: 'no runner started the task' });
    const [victim, other] = victimName === 'b' ? [b, c] : [c, b];
    victim.child.kill('SIGKILL');
    expect(await victim.exited).toBe('SIGKILL');
    const r = await sys.client.waitForResult(taskId, { timeoutMs: 30_000 });
    expect(state(r.state), r.error).toBe('TASK_STATE_SUCCEEDED');
    expect(JSON.parse(r.resultJson)).toMatchObject({ runner: other.name });
    expect(r.attempt).toBeGreaterThan(1);
  });

  it("serves the README's example (examples/python/runner.py): an async task with progress, a blocking one that stops on CancelTask", async () => {
    await startRunner('ex', ports.ex, { target: join(PROJECT_ROOT, 'examples/python/runner.py') });
    await waitFor(
      async () => {
        const { taskId } = await sys.client.submitTask({
          taskClass: 'py_example',
          payload: { n: '3', step_ms: '10' },
          executor: { runner: { task: 'count' } },
        });
        const r = await sys.client.waitForResult(taskId);
        if (state(r.state) !== 'TASK_STATE_SUCCEEDED') return undefined;
        expect(JSON.parse(r.resultJson)).toEqual({ counted: 3 });
        expect((await sys.client.getTaskLogs(taskId)).lines.map((l) => l.text)).toEqual(['step 1 of 3', 'step 2 of 3', 'step 3 of 3']);
        expect((await events(taskId, 'progress')).length).toBeGreaterThanOrEqual(1);
        return true;
      },
      // The pool saw the runner down at its start: attempts fail at once until it describes it again.
      { timeoutMs: 30_000, intervalMs: 200, message: 'the example never ran count' },
    );
    const { taskId } = await sys.client.submitTask({ taskClass: 'py_example', payload: { seconds: '600' }, executor: { runner: { task: 'wait' } } });
    await waitFor(async () => (await sys.client.getTaskLogs(taskId)).lines.some((l) => l.text === 'waiting 600.0 s'), {
      timeoutMs: 20_000,
      message: 'the example never started wait',
    });
    await sys.client.cancelTask(taskId);
    expect(state((await sys.client.waitForResult(taskId)).state)).toBe('TASK_STATE_CANCELLED');
    const sha = await sys.client.submitTask({ taskClass: 'py_example', payload: { rounds: '2' }, maxAttempts: 3, executor: { runner: { task: 'sha256' } } });
    const r = await sys.client.waitForResult(sha.taskId);
    expect([state(r.state), r.attempt, r.error]).toEqual(['TASK_STATE_FAILED', 1, 'payload.text: required']);
  });

  it("serves pools over mutual TLS (the pool's client certificate of the runner's CA)", async () => {
    await startRunner('sec', ports.sec, { tls: ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-client-ca', certs.caCert] });
    await poolUses('py_tls', 'sec');
    const { taskId } = await sys.client.submitTask({ taskClass: 'py_tls', payload: { over: 'tls' }, executor: { runner: { task: 'report' } } });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state), r.error).toBe('TASK_STATE_SUCCEEDED');
    expect(JSON.parse(r.resultJson)).toMatchObject({ runner: 'sec', got: { over: 'tls' } });
  });

  it('a pool killed mid-call: the Python function sees the call go, and another pool runs the task again', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'py_main', payload: { a: '1' }, maxAttempts: 2, executor: { runner: { task: 'wait_async' } } });
    await waitFor(() => marked(taskId, 1, 'started') !== undefined, { timeoutMs: 20_000, message: 'the function never started' });
    rmSync(join(marks, `${taskId}.1.started`));
    pool.kill('SIGKILL');
    expect(await pool.exited).toBe('SIGKILL');
    await waitFor(() => marked(taskId, 1, 'cancelled') !== undefined, { timeoutMs: 10_000, message: 'the function never saw the call go' });
    expect(marked(taskId, 1, 'cancelled')).toBe('caller_gone');
    pool = await sys.startPool({ classes: POOL_CLASSES });
    // Delivered again once the stall check finds it: the same attempt (a stall is not a failure), or the next.
    await waitFor(() => [1, 2].some((attempt) => marked(taskId, attempt, 'started') !== undefined), { timeoutMs: 30_000, message: 'the task never ran again' });
    await sys.client.cancelTask(taskId);
    expect(state((await sys.client.waitForResult(taskId)).state)).toBe('TASK_STATE_CANCELLED');
  });

  it('runners stop on SIGTERM and no runner process is left', async () => {
    const running = runners.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
    expect(running.length).toBeGreaterThan(0);
    for (const r of running) r.child.kill('SIGTERM');
    for (const r of running) expect(await r.exited, r.output()).toBe(0);
    expect(leftFromVenv(py!).map(describeProcess)).toEqual([]);
  });
});
