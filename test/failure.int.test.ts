/**
 * Failure in one place, against a real Redis, pool and orchestrator: a failed command's,
 * handler's, timed-out and cancelled task's own error (message, kind, exit code, signal, output
 * tail, retryable) in GetTaskStatus, in StreamTaskResults both from the results stream (a
 * subscriber there before the end, one reading from a cursor) and from the task's record (one
 * arriving after the end), in orchctl status / results --task / submit --wait, and in Bull
 * Board's API (failedReason and stacktrace: the task's output, no stack of the pool's code).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState, type TaskFailure, type TaskInput, type TaskResult } from '../src/client/orchestrator-client.js';
import { orchctl } from './helpers/orchctl.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
import { taskReadableTempDir } from './helpers/temp-dir.js';
import { waitFor } from './helpers/wait.js';

const ADMIN_TOKEN = 'failure-admin-token-0123456789';
const TOML = `${TEST_CONFIG_TOML}
[[http.dashboard.tokens]]
token = "${ADMIN_TOKEN}"
role = "admin"
`;

let sys: TestSystem;
const dir = taskReadableTempDir('orq-failure-');

beforeAll(async () => {
  sys = await startSystem({ toml: TOML });
  await sys.startPool({ classes: 'cpu_short:4,inproc:2' });
});
afterAll(async () => sys?.stop());

/** A command that waits for `flag`, then writes to both streams and exits with `code`. */
function failingCommand(taskId: string, flag: string, code: number): TaskInput {
  const script = `while [ ! -e ${flag} ]; do sleep 0.05; done; echo "progress line"; echo "disk quota exceeded" >&2; exit ${code}`;
  return { taskId, taskClass: 'cpu_short', payload: { n: '1' }, maxAttempts: 1, executor: { command: { argv: ['sh', '-c', script] } } };
}

async function first(stream: AsyncIterable<TaskResult>): Promise<TaskResult> {
  for await (const r of stream) return r;
  throw new Error('the stream ended without a result');
}

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('a failed command', { timeout: 120_000 }, () => {
  const taskId = 'fail-cmd-1';
  let before: TaskResult;
  let statusFailure: TaskFailure | undefined;

  beforeAll(async () => {
    const flag = join(dir, 'go-cmd-1');
    await sys.client.submitTask(failingCommand(taskId, flag, 3));
    // A subscriber on the stream before the end: its answer comes from the results stream.
    const early = first(sys.client.streamTaskResults({ taskIds: [taskId], closeWhenDone: true }));
    await waitFor(async () => (await sys.client.getTaskStatus(taskId)).state === TaskState.TASK_STATE_RUNNING, { message: 'never ran' });
    writeFileSync(flag, '');
    before = await early;
    statusFailure = (await sys.client.getTaskStatus(taskId)).failure;
  });

  it('GetTaskStatus tells its own error, exit code and output tail', async () => {
    const s = await sys.client.getTaskStatus(taskId);
    expect(s.state).toBe(TaskState.TASK_STATE_FAILED);
    expect(s.error).toBe('command exited with code 3');
    expect(s).toMatchObject({ attemptsMade: 1, maxAttempts: 1, attempt: 1 });
    expect(statusFailure).toMatchObject({ message: 'command exited with code 3', kind: 'task_failed', exitCode: 3, signal: '', retryable: true });
    expect(statusFailure!.outputTail).toContain('disk quota exceeded');
    expect(statusFailure!.outputTail).toContain('progress line');
  });

  it('StreamTaskResults carries the same failure from the stream (before, by cursor) and from the record (after)', async () => {
    expect(before.failure).toEqual(statusFailure);
    expect(before.error).toBe('command exited with code 3');
    // After the end, no cursor: answered from the task's record.
    const after = await first(sys.client.streamTaskResults({ taskIds: [taskId], closeWhenDone: true }));
    expect(after.failure).toEqual(statusFailure);
    expect(after).toMatchObject({ state: TaskState.TASK_STATE_FAILED, attempt: 1 });
    // From the oldest entry: read off the results stream.
    const fromStream = await first(sys.client.streamTaskResults({ taskIds: [taskId], cursor: '0', closeWhenDone: true }));
    expect(fromStream.failure).toEqual(statusFailure);
  });

  it('orchctl status, results --task and submit --wait show the exit code and the stderr tail', async () => {
    const st = await orchctl(['--addr', sys.addr, 'status', taskId]);
    expect(st.code).toBe(0);
    expect(st.out).toMatch(/failure\s+task_failed, exit code 3, retryable/);
    expect(st.out).toContain('output tail:\n');
    expect(st.out).toContain('  disk quota exceeded');

    const json = await orchctl(['--addr', sys.addr, '--json', 'status', taskId]);
    const parsed = JSON.parse(json.out) as { failure: Record<string, unknown> };
    expect(parsed.failure).toMatchObject({ kind: 'task_failed', exitCode: 3, signal: null, retryable: true });
    expect(parsed.failure.outputTail).toContain('disk quota exceeded');

    const res = await orchctl(['--addr', sys.addr, 'results', '--task', taskId, '--idle-ms', '3000']);
    expect(res.out).toContain('(task_failed, exit code 3, retryable)');
    expect(res.out).toContain('  disk quota exceeded');

    const flag = join(dir, 'go-cmd-wait');
    writeFileSync(flag, '');
    const script = `test -e ${flag} && echo "no such table: users" >&2; exit 5`;
    const wait = await orchctl(['--addr', sys.addr, 'submit', '--wait', '--class', 'cpu_short', '--attempts', '1', '-p', 'n=1', '--', 'sh', '-c', script]);
    expect(wait.code).toBe(1);
    expect(wait.out).toMatch(/failure\s+task_failed, exit code 5, retryable/);
    expect(wait.out).toContain('  no such table: users');
  });

  it("Bull Board's API shows the task's own error, never a stack of the pool's code", async () => {
    const res = await fetch(`${sys.httpUrl}/admin/queues/api/queues/cpu_short/${taskId}`, { headers: admin });
    expect(res.status).toBe(200);
    const { job } = (await res.json()) as { job: { failedReason: string; stacktrace: string[] } };
    expect(job.failedReason).toBe('command exited with code 3');
    expect(job.stacktrace.length).toBeGreaterThan(0);
    const trace = job.stacktrace.join('\n');
    expect(trace).toContain('exit code 3');
    expect(trace).toContain('disk quota exceeded');
    // No frames: neither the pool's modules nor BullMQ's.
    expect(trace).not.toMatch(/^\s+at /m);
    expect(trace).not.toMatch(/task-processor|node_modules/);
  });
});

describe('other endings', { timeout: 120_000 }, () => {
  it("a handler's error: its message, no exit code, not retryable when it says so", async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'inproc',
      payload: { message: 'bad input row 7', retryable: 'false' },
      executor: { handler: 'fail' },
      maxAttempts: 3,
    });
    const r = await sys.client.waitForResult(taskId);
    expect(r.failure).toMatchObject({ message: 'bad input row 7', kind: 'task_failed', exitCode: undefined, retryable: false, outputTail: '' });
    const s = await sys.client.getTaskStatus(taskId);
    expect(s.failure).toEqual(r.failure);
    // Not retryable: one attempt of the three.
    expect(s).toMatchObject({ attemptsMade: 1, maxAttempts: 3 });
  });

  it('a timed-out command: timed_out, killed, with what it printed', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { n: '1' },
      maxAttempts: 1,
      timeoutMs: 1500,
      executor: { command: { argv: ['sh', '-c', 'echo "loading model" >&2; sleep 30'] } },
    });
    const r = await sys.client.waitForResult(taskId);
    expect(r.state).toBe(TaskState.TASK_STATE_FAILED);
    expect(r.failure).toMatchObject({ message: 'timed out after 1500 ms', kind: 'timed_out', retryable: true });
    expect(r.failure!.outputTail).toContain('loading model');
    expect((await sys.client.getTaskStatus(taskId)).failure).toEqual(r.failure);
  });

  it('a cancelled running task: cancelled, with the reason, not retryable', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { ms: '30000' }, executor: { handler: 'sleep' }, maxAttempts: 1 });
    await waitFor(async () => (await sys.client.getTaskStatus(taskId)).state === TaskState.TASK_STATE_RUNNING, { message: 'never ran' });
    await sys.client.cancelTask(taskId, 'wrong input file');
    const r = await sys.client.waitForResult(taskId);
    expect(r.state).toBe(TaskState.TASK_STATE_CANCELLED);
    expect(r.failure).toMatchObject({ message: 'cancelled: wrong input file', kind: 'cancelled', retryable: false });
    await waitFor(async () => (await sys.client.getTaskStatus(taskId)).state === TaskState.TASK_STATE_CANCELLED);
    expect((await sys.client.getTaskStatus(taskId)).failure).toMatchObject({ message: 'cancelled: wrong input file', kind: 'cancelled', retryable: false });
  });

  it('a task cancelled while queued: cancelled, from its record', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_long', payload: { n: '1' } });
    await sys.client.cancelTask(taskId, 'not needed');
    const s = await sys.client.getTaskStatus(taskId);
    expect(s.state).toBe(TaskState.TASK_STATE_CANCELLED);
    expect(s.failure).toMatchObject({ message: 'cancelled: not needed', kind: 'cancelled', retryable: false });
    const r = await first(sys.client.streamTaskResults({ taskIds: [taskId], closeWhenDone: true }));
    expect(r.failure).toMatchObject({ kind: 'cancelled', message: 'cancelled: not needed' });
  });
});
