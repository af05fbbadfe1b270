/**
 * The runner executor end to end: TypeScript task runners (src/runner/task-runner.ts) speaking
 * orchestrator.runner.v1.TaskRunner, in this process and as processes of their own
 * (test/fixtures/task-runner.mjs), called by real pool processes for tasks submitted over gRPC.
 * The Python runner is proven against the same pools by test/python-runner.int.test.ts: the
 * protocol is language-neutral.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState } from '../src/client/orchestrator-client.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { TaskFailure, TaskRunner, type RunnerAbort, type RunnerTaskContext } from '../src/runner/task-runner.js';
import { makeTestCerts } from './helpers/certs.js';
import { orchctl } from './helpers/orchctl.js';
import { resultFields } from './helpers/results.js';
import { startSystem, TEST_CONFIG_TOML, type PoolProcess, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';
import { freePort } from './helpers/free-port.js';

/** What the in-process runner saw, by task id. */
const seen = new Map<string, { ctx: RunnerTaskContext; abortedBy?: string; ended: boolean }>();
let concurrent = 0;
let maxConcurrent = 0;
/** Released by the test: the stubborn task ignores its signal until then. */
let releaseStubborn: () => void = () => undefined;

function track(ctx: RunnerTaskContext) {
  const s = { ctx, abortedBy: undefined as string | undefined, ended: false };
  seen.set(ctx.taskId, s);
  ctx.signal.addEventListener('abort', () => (s.abortedBy = (ctx.signal.reason as RunnerAbort).reason));
  return s;
}

const untilAborted = (ctx: RunnerTaskContext) => new Promise<never>((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));

const runnerA = new TaskRunner({ name: 'suite-a', maxConcurrency: 2 })
  .task('report', async (payload, ctx) => {
    track(ctx);
    ctx.log('starting');
    ctx.log('to stdout', 'stdout');
    ctx.log('to stderr', 'stderr');
    for (const p of [10, 50, 100]) ctx.progress(p);
    return { got: payload, attempt: ctx.attempt, maxAttempts: ctx.maxAttempts, taskClass: ctx.taskClass, deadlineMs: ctx.deadline?.getTime() ?? 0 };
  })
  .task('refuse', () => {
    throw new TaskFailure('row 7 is malformed', { detail: { row: 7 } });
  })
  .task('flaky', (_payload, ctx) => {
    if (ctx.attempt === 1) throw new Error('the database went away');
    return { attempt: ctx.attempt };
  })
  .task('wait', async (_payload, ctx) => {
    const s = track(ctx);
    try {
      await untilAborted(ctx);
    } finally {
      s.ended = true;
    }
  })
  .task('stubborn', async (_payload, ctx) => {
    const s = track(ctx);
    // Ignores its signal: the pool must cut the call off after its grace.
    await new Promise<void>((resolve) => (releaseStubborn = resolve));
    s.ended = true;
    return 'too late';
  })
  .task('hold', async (payload, ctx) => {
    track(ctx);
    maxConcurrent = Math.max(maxConcurrent, ++concurrent);
    try {
      await new Promise((resolve) => setTimeout(resolve, Number(payload.ms)));
    } finally {
      concurrent--;
    }
    return { ok: true };
  });

const runnerTok = new TaskRunner({ name: 'suite-tok', token: 's3cret' }).task('echo', (payload) => payload);
const certs = makeTestCerts();
/** Mutual TLS: the runner requires a client certificate from the suite's CA. */
const runnerTls = new TaskRunner({ name: 'suite-tls', tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert } }).task('echo', (payload) => ({
  over: 'tls',
  payload,
}));
let runnerLate: TaskRunner | undefined;

let sys: TestSystem;
let pool: PoolProcess;
let latePort: number;
const children: ChildProcess[] = [];

/** A runner process of test/fixtures/task-runner.mjs on `port`; resolves once it serves. */
async function startRunnerProcess(name: string, port: number): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [join(PROJECT_ROOT, 'test/fixtures/task-runner.mjs'), name, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(() => out.includes('listening ') || child.exitCode !== null, { timeoutMs: 30_000, message: `runner ${name} never listened` });
  if (child.exitCode !== null) throw new Error(`runner ${name} exited: ${out}`);
  return { child, output: () => out };
}

const POLICY = (runners: string[]) => `{ executors = ["runner"], runner = { runners = ${JSON.stringify(runners)} } }`;
const CLASS = (name: string, runners: string[], extra = '') =>
  `[classes.${name}]\npolicy = ${POLICY(runners)}\nconcurrency = 4\nattempts = 1\nlockDurationMs = 2000\nstalledIntervalMs = 1000\n${extra}`;

let portB: number;
let portC: number;

beforeAll(async () => {
  const portA = await runnerA.listen('127.0.0.1:0');
  const portTok = await runnerTok.listen('127.0.0.1:0');
  const portTls = await runnerTls.listen('127.0.0.1:0');
  latePort = await freePort();
  portB = await freePort();
  portC = await freePort();
  const toml = `${TEST_CONFIG_TOML}
[executors.runner]
cancelGraceMs = 800
reconnectMs = 200
connectTimeoutMs = 1500
[executors.runner.runners.a]
address = "127.0.0.1:${portA}"
[executors.runner.runners.late]
address = "127.0.0.1:${latePort}"
[executors.runner.runners.tok]
address = "127.0.0.1:${portTok}"
token = "s3cret"
[executors.runner.runners.badtok]
address = "127.0.0.1:${portTok}"
token = "wrong"
[executors.runner.runners.tls]
address = "127.0.0.1:${portTls}"
tls = { ca = "${certs.caCert}", cert = "${certs.clientCert}", key = "${certs.clientKey}" }
[executors.runner.runners.b]
address = "127.0.0.1:${portB}"
[executors.runner.runners.c]
address = "127.0.0.1:${portC}"
${CLASS('run_a', ['a'])}
${CLASS('run_late', ['late'])}
${CLASS('run_tok', ['tok', 'badtok', 'tls'])}
${CLASS('run_bc', ['b', 'c'])}
`;
  sys = await startSystem({ toml });
  pool = await sys.startPool({ classes: 'run_a,run_late,run_tok,run_bc' });
});

afterAll(async () => {
  releaseStubborn();
  await sys?.stop();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all([runnerA.shutdown(1_000), runnerTok.shutdown(1_000), runnerTls.shutdown(1_000), runnerLate?.shutdown(1_000)]);
  // Nothing left: every runner process this suite started has exited.
  await waitFor(() => children.every((c) => c.exitCode !== null || c.signalCode !== null), { timeoutMs: 10_000, message: 'a runner process is still running' });
});

const state = (s: TaskState) => TaskState[s];

describe('runner executor', () => {
  it('streams progress and log lines onto the task, and takes its result', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'run_a', payload: { n: '7' }, timeoutMs: 30_000, executor: { runner: { task: 'report' } } });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state), r.error).toBe('TASK_STATE_SUCCEEDED');
    const result = JSON.parse(r.resultJson) as { got: unknown; attempt: number; maxAttempts: number; taskClass: string; deadlineMs: number };
    expect(result).toMatchObject({ got: { n: '7' }, attempt: 1, maxAttempts: 1, taskClass: 'run_a' });
    // The runner was told when the attempt times out.
    expect(result.deadlineMs).toBeGreaterThan(Date.now());
    expect(result.deadlineMs).toBeLessThanOrEqual(Date.now() + 30_000);
    const logs = await sys.client.getTaskLogs(taskId);
    expect(logs.lines.map((l) => [l.stream, l.text])).toEqual([
      [3, 'starting'],
      [1, 'to stdout'],
      [2, 'to stderr'],
    ]);
    // Progress reaches the feed; the last value reported is never dropped by the throttle.
    const progress = (await sys.r.xrange(sys.keys.events, '-', '+')).filter(([, f]) => f[3] === taskId && f[1] === 'progress').map(([, f]) => f.join(' '));
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress.at(-1)).toMatch(/\b100\b/);
  });

  it("fails with the runner's failure: a TaskFailure is not retried; a thrown error is, and succeeds", async () => {
    const refused = await sys.client.submitTask({ taskClass: 'run_a', payload: { a: '1' }, maxAttempts: 3, executor: { runner: { task: 'refuse' } } });
    const r = await sys.client.waitForResult(refused.taskId);
    expect(state(r.state)).toBe('TASK_STATE_FAILED');
    expect(r.attempt).toBe(1);
    expect(r.error).toBe('row 7 is malformed');
    const detail = JSON.parse((await resultFields(sys.r, sys.keys, refused.taskId))!.result!) as Record<string, unknown>;
    expect(detail).toMatchObject({ runner: 'a', errorType: 'TaskFailure', row: 7 });

    const flaky = await sys.client.submitTask({
      taskClass: 'run_a',
      payload: { a: '1' },
      maxAttempts: 3,
      backoff: { type: 'fixed', delayMs: 50 },
      executor: { runner: { task: 'flaky' } },
    });
    const f = await sys.client.waitForResult(flaky.taskId);
    expect(state(f.state), f.error).toBe('TASK_STATE_SUCCEEDED');
    expect(JSON.parse(f.resultJson)).toEqual({ attempt: 2 });
    const retrying = (await sys.r.xrange(sys.keys.events, '-', '+')).filter(([, x]) => x[3] === flaky.taskId && x[1] === 'retrying');
    expect(retrying.map(([, x]) => x.join(' ')).join('\n')).toContain('the database went away');
  });

  it('fails a task name no runner serves, naming what the runner serves', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'run_a', payload: { a: '1' }, executor: { runner: { task: 'no_such_task' } } });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_FAILED');
    expect(r.error).toContain('no task runner serves "no_such_task"');
    expect(r.error).toContain('report');
  });

  it('CancelTask reaches the function, whose signal aborts', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'run_a', payload: { a: '1' }, executor: { runner: { task: 'wait' } } });
    await waitFor(() => seen.get(taskId), { timeoutMs: 20_000, message: 'the runner never got the task' });
    await sys.client.cancelTask(taskId, 'no longer needed');
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_CANCELLED');
    await waitFor(() => seen.get(taskId)!.ended, { timeoutMs: 10_000, message: 'the function never ended' });
    expect(seen.get(taskId)!.abortedBy).toBe('cancelled');
  });

  it("the attempt's timeout reaches the function", async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'run_a', payload: { a: '1' }, timeoutMs: 500, executor: { runner: { task: 'wait' } } });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_FAILED');
    expect(r.error).toContain('timed out after 500 ms');
    await waitFor(() => seen.get(taskId)?.ended, { timeoutMs: 10_000, message: 'the function never ended' });
    expect(seen.get(taskId)!.abortedBy).toBe('timed_out');
  });

  it('cuts off a runner that ignores the cancel after the grace, freeing its slot', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'run_a', payload: { a: '1' }, executor: { runner: { task: 'stubborn' } } });
    await waitFor(() => seen.get(taskId), { timeoutMs: 20_000, message: 'the runner never got the task' });
    await sys.client.cancelTask(taskId);
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_CANCELLED');
    // The function still runs (it ignores its signal), but the pool no longer counts the call.
    expect(seen.get(taskId)!.ended).toBe(false);
    await waitFor(async () => /orq_pool_runner_in_flight\{runner="a"\} 0/.test(await (await fetch(`${pool.metricsUrl}/metrics`)).text()), {
      timeoutMs: 10_000,
      message: 'the cut-off call still holds its slot',
    });
    releaseStubborn();
    await waitFor(() => seen.get(taskId)!.ended, { timeoutMs: 10_000 });
  });

  it("never sends a runner more calls than it announced, and counts them in the pool's metrics", async () => {
    concurrent = 0;
    maxConcurrent = 0;
    // The class runs 4 at once on this pool; runner a takes 2.
    const ids = await Promise.all(
      Array.from(
        { length: 6 },
        async () => (await sys.client.submitTask({ taskClass: 'run_a', payload: { ms: '300' }, executor: { runner: { task: 'hold' } } })).taskId,
      ),
    );
    for (const id of ids) {
      const r = await sys.client.waitForResult(id);
      expect(state(r.state), r.error).toBe('TASK_STATE_SUCCEEDED');
      expect(r.attempt).toBe(1);
    }
    expect(maxConcurrent).toBe(2);
    const metrics = await (await fetch(`${pool.metricsUrl}/metrics`)).text();
    expect(Number(/orq_pool_runner_calls_total\{runner="a",outcome="succeeded"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(6);
    expect(metrics).toMatch(/orq_pool_runner_up\{runner="a"\} 1/);
    expect(metrics).toMatch(/orq_pool_runner_call_seconds_count\{runner="a"\} \d+/);
  });

  it('sends the configured token; a wrong one fails the attempt without retry', async () => {
    const ok = await sys.client.submitTask({ taskClass: 'run_tok', payload: { k: 'v' }, executor: { runner: { task: 'echo', runner: 'tok' } } });
    const r = await sys.client.waitForResult(ok.taskId);
    expect(state(r.state), r.error).toBe('TASK_STATE_SUCCEEDED');
    expect(JSON.parse(r.resultJson)).toEqual({ k: 'v' });
    const bad = await sys.client.submitTask({
      taskClass: 'run_tok',
      payload: { a: '1' },
      maxAttempts: 3,
      executor: { runner: { task: 'echo', runner: 'badtok' } },
    });
    const b = await sys.client.waitForResult(bad.taskId);
    expect(state(b.state)).toBe('TASK_STATE_FAILED');
    expect(b.attempt).toBe(1);
    expect(b.error).toMatch(/badtok.*UNAUTHENTICATED/);
  });

  it('orchctl submits a runner task and waits for its result', async () => {
    const r = await orchctl(['--addr', sys.addr, 'submit', '-c', 'run_tok', '-p', 'k=from orchctl', '--runner-task', 'echo', '--runner', 'tok', '--wait']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^state\s+succeeded$/m);
    expect(r.out).toContain('from orchctl');
    const bad = await orchctl(['--addr', sys.addr, 'submit', '-c', 'run_tok', '-p', 'k=v', '--runner', 'tok']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--runner goes with --runner-task');
  });

  it('calls a runner over mutual TLS', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'run_tok', payload: { k: 'v' }, executor: { runner: { task: 'echo', runner: 'tls' } } });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state), r.error).toBe('TASK_STATE_SUCCEEDED');
    expect(JSON.parse(r.resultJson)).toEqual({ over: 'tls', payload: { k: 'v' } });
  });

  it('a runner that is down fails the attempt retryably at once, shows in Health, and is used once it is up', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'run_late',
      payload: { a: '1' },
      maxAttempts: 100,
      backoff: { type: 'fixed', delayMs: 200 },
      executor: { runner: { task: 'echo' } },
    });
    await waitFor(
      async () =>
        (await sys.r.xrange(sys.keys.events, '-', '+')).some(([, f]) => f[3] === taskId && f[1] === 'retrying' && f.join(' ').includes('could be reached')),
      { timeoutMs: 20_000, message: 'no retryable failure while the runner is down' },
    );
    await waitFor(async () => (await sys.client.health()).components.find((c) => c.name === 'runner:late')?.status === 2 /* degraded */, {
      timeoutMs: 10_000,
      message: 'Health never showed the runner down',
    });
    runnerLate = new TaskRunner({ name: 'suite-late' }).task('echo', () => 'late but there');
    await runnerLate.listen(`127.0.0.1:${latePort}`);
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state), r.error).toBe('TASK_STATE_SUCCEEDED');
    expect(JSON.parse(r.resultJson)).toBe('late but there');
    expect(r.attempt).toBeGreaterThan(1);
    await waitFor(
      async () => {
        const c = (await sys.client.health()).components.find((x) => x.name === 'runner:late');
        return c?.status === 1 && c.detail.includes('serves echo');
      },
      { timeoutMs: 10_000, message: 'Health never showed the runner up' },
    );
  });

  it("a runner killed mid-call fails the attempt retryably; the task reruns on the class's other runner", async () => {
    const b = await startRunnerProcess('b', portB);
    const c = await startRunnerProcess('c', portC);
    const { taskId } = await sys.client.submitTask({
      taskClass: 'run_bc',
      payload: { ms: '60000' },
      // Room for an attempt that finds the other runner still being described on a loaded machine.
      maxAttempts: 10,
      backoff: { type: 'fixed', delayMs: 100 },
      executor: { runner: { task: 'slow' } },
    });
    const victim = await waitFor(() => [b, c].find((x) => x.output().includes(`start ${taskId} 1`)), {
      timeoutMs: 20_000,
      message: 'no runner started the task',
    });
    const other = victim! === b ? c : b;
    victim!.child.kill('SIGKILL');
    await waitFor(() => new RegExp(`^start ${taskId} \\d+$`, 'm').test(other.output()), {
      timeoutMs: 20_000,
      message: 'the other runner never got the task',
    }).catch(async (err: Error) => {
      const events = (await sys.r.xrange(sys.keys.events, '-', '+')).filter(([, f]) => f[3] === taskId).map(([, f]) => f.join(' '));
      throw new Error(`${err.message}\n${events.join('\n')}\n${other.output()}`);
    });
    // The killed runner's attempt failed retryably, naming the runner.
    const retrying = (await sys.r.xrange(sys.keys.events, '-', '+')).filter(([, f]) => f[3] === taskId && f[1] === 'retrying').map(([, f]) => f.join(' '));
    expect(retrying[0]).toContain(`task runner ${victim === b ? 'b' : 'c'}`);
    await sys.client.cancelTask(taskId);
    expect(state((await sys.client.waitForResult(taskId)).state)).toBe('TASK_STATE_CANCELLED');
    other.child.kill('SIGTERM');
    await waitFor(() => [b, c].every((x) => x.child.exitCode !== null || x.child.signalCode !== null), {
      timeoutMs: 10_000,
      message: 'a runner process is left',
    });
  });

  it('a pool killed mid-call: the runner sees the call go, and another pool reruns the task', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'run_a', payload: { a: '1' }, maxAttempts: 2, executor: { runner: { task: 'wait' } } });
    await waitFor(() => seen.get(taskId), { timeoutMs: 20_000, message: 'the runner never got the task' });
    const first = seen.get(taskId)!;
    pool.kill('SIGKILL');
    await waitFor(() => first.abortedBy, { timeoutMs: 10_000, message: 'the runner never saw the call go' });
    expect(first.abortedBy).toBe('caller_gone');
    pool = await sys.startPool({ classes: 'run_a,run_late,run_tok,run_bc' });
    // Redelivered after the stall check: the same attempt (a stall is not a failure), to the same runner.
    await waitFor(() => seen.get(taskId) !== first, { timeoutMs: 30_000, message: 'the task was never run again' });
    await sys.client.cancelTask(taskId);
    expect(state((await sys.client.waitForResult(taskId)).state)).toBe('TASK_STATE_CANCELLED');
  });

  it('refuses bad runner tasks at submission, naming the field, and writes nothing', async () => {
    const submitted = async () => (await sys.r.xrange(sys.keys.events, '-', '+')).filter(([, f]) => f[1] === 'submitted').length;
    const before = await submitted();
    const refuse = async (executor: { runner: { task: string; runner?: string } }, taskClass = 'run_a') => {
      const err = (await sys.client.submitTask({ taskClass, payload: { a: '1' }, executor }).catch((e: unknown) => e)) as ServiceError;
      return { code: err.code, details: err.details };
    };
    expect(await refuse({ runner: { task: 'x', runner: 'nowhere' } })).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining('task.executor.runner.runner'),
    });
    expect(await refuse({ runner: { task: 'x', runner: 'b' } })).toMatchObject({
      code: status.PERMISSION_DENIED,
      details: expect.stringContaining('classes.run_a.policy.runner.runners'),
    });
    expect(await refuse({ runner: { task: '../etc' } })).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining('task.executor.runner.task'),
    });
    expect(await refuse({ runner: { task: 'report' } }, 'cpu_short')).toMatchObject({ code: status.PERMISSION_DENIED });
    // Nothing was queued: no event was written for any of them.
    expect(await submitted()).toBe(before);
  });
});
