/**
 * Task logs against a real Redis, a real orchestrator and a real pool process: what commands
 * and handlers print reaches GetTaskLogs / StreamTaskLogs (and BullMQ's job log list, which Bull
 * Board shows) by attempt and stream, bounded per attempt, followed live, and removed with its
 * task; orchctl logs prints it.
 */
import { status } from '@grpc/grpc-js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskInput } from '../src/client/orchestrator-client.js';
import { LogStream, TaskState, type TaskLogLine } from '../src/gen/orchestrator/v1/orchestrator.js';
import { TaskLogStore } from '../src/tasks/task-log-store.js';
import { grpcError } from './helpers/grpc.js';
import { orchctl as runOrchctl, spawnOrchctl } from './helpers/orchctl.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
import { taskReadableTempDir } from './helpers/temp-dir.js';
import { waitFor } from './helpers/wait.js';

let sys: TestSystem;
const dir = taskReadableTempDir('orq-task-logs-');
/** Small bounds, so a chatty command crosses them quickly: 10 lines kept at the start, 10 at the end. */
const MAX_LINES = 20;

beforeAll(async () => {
  // gpu_slurm (the last class table, open to additions) keeps one failed task: retention's own sweep removes the rest.
  const retention = 'keepFailed = { count = 1, ageMs = 86400000 }\n[retention]\nsweepIntervalMs = 100\n';
  const logs = `[logs]\nmaxLinesPerAttempt = ${MAX_LINES}\nflushIntervalMs = 50\nfollowPollMs = 50\n`;
  sys = await startSystem({ toml: `${TEST_CONFIG_TOML}${retention}${logs}` });
  await sys.startPool({ classes: 'cpu_short:4,inproc:2,gpu_slurm:1' });
  // Sandboxes as worker threads: the handler's console is the thread's, captured the same way.
  await sys.startPool({ classes: 'cpu_long:1', env: { ORCHESTRATOR_SANDBOX: 'thread' } });
});
afterAll(async () => sys?.stop());

let n = 0;
const nextId = (what: string) => `logs-${what}-${Date.now()}-${n++}`;

function shTask(id: string, script: string, extra: Partial<TaskInput> = {}): TaskInput {
  return { taskId: id, taskClass: 'cpu_short', payload: { test: 'logs' }, executor: { command: { argv: ['sh', '-c', script] } }, ...extra };
}

async function finished(id: string): Promise<TaskState> {
  for await (const r of sys.client.streamTaskResults({ taskIds: [id], closeWhenDone: true })) return r.state;
  throw new Error(`no result for ${id}`);
}

/** The result is out a moment before BullMQ records the end: wait for the task's own state too. */
async function settled(id: string): Promise<void> {
  await finished(id);
  await waitFor(async () => [TaskState.TASK_STATE_SUCCEEDED, TaskState.TASK_STATE_FAILED].includes((await sys.client.getTaskStatus(id)).state));
}

const texts = (lines: TaskLogLine[], stream?: LogStream) => lines.filter((l) => stream === undefined || l.stream === stream).map((l) => l.text);

describe('GetTaskLogs', { timeout: 60_000 }, () => {
  it("serves a failed command's stdout and stderr, each line marked with its stream and attempt, from BullMQ's job log", async () => {
    const id = nextId('fail');
    await sys.client.submitTask(shTask(id, 'echo out one; echo err one >&2; echo out two; printf "no newline at the end" >&2; exit 3'));
    expect(await finished(id)).toBe(TaskState.TASK_STATE_FAILED);

    const logs = await sys.client.getTaskLogs(id);
    expect(logs).toMatchObject({ taskId: id, attempt: 1, attempts: [1], truncated: false, state: TaskState.TASK_STATE_FAILED });
    expect(texts(logs.lines, LogStream.LOG_STREAM_STDOUT)).toEqual(['out one', 'out two']);
    expect(texts(logs.lines, LogStream.LOG_STREAM_STDERR)).toEqual(['err one', 'no newline at the end']);
    for (const l of logs.lines) {
      expect(l.attempt).toBe(1);
      expect(Math.abs(l.atMs - Date.now())).toBeLessThan(60_000);
    }
    // The list Bull Board's Logs tab reads, in the documented format.
    const raw = await sys.r.lrange(`${sys.keys.job('cpu_short', id)}:logs`, 0, -1);
    expect(raw).toHaveLength(4);
    expect(raw).toContainEqual(expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[attempt 1\] stderr: err one$/));
  });

  it("captures a handler's ctx.log in-process, and ctx.log and console output in a sandbox", async () => {
    const inproc = nextId('inproc');
    const sandboxed = nextId('sandbox');
    const handler = (taskId: string, taskClass: string): TaskInput => ({
      taskId,
      taskClass,
      payload: { log: `hello from ${taskClass}`, retryable: 'false' },
      executor: { handler: 'fail' },
    });
    await sys.client.submitTasks([handler(inproc, 'inproc'), handler(sandboxed, 'cpu_short')]);
    await Promise.all([finished(inproc), finished(sandboxed)]);

    const a = await sys.client.getTaskLogs(inproc);
    expect(texts(a.lines, LogStream.LOG_STREAM_LOG)).toEqual(['hello from inproc']);
    // In-process, console output is the pool's own: only ctx.log is the task's.
    expect(texts(a.lines, LogStream.LOG_STREAM_STDOUT)).toEqual([]);

    const b = await sys.client.getTaskLogs(sandboxed);
    expect(texts(b.lines, LogStream.LOG_STREAM_LOG)).toEqual(['hello from cpu_short']);
    expect(texts(b.lines, LogStream.LOG_STREAM_STDOUT)).toEqual(['console: hello from cpu_short']);
  });

  it('captures ctx.log and console output of a handler sandboxed in a worker thread', async () => {
    const id = nextId('thread');
    await sys.client.submitTask({ taskId: id, taskClass: 'cpu_long', maxAttempts: 1, payload: { log: 'from a thread' }, executor: { handler: 'fail' } });
    await finished(id);
    const logs = await sys.client.getTaskLogs(id);
    expect(texts(logs.lines, LogStream.LOG_STREAM_LOG)).toEqual(['from a thread']);
    expect(texts(logs.lines, LogStream.LOG_STREAM_STDOUT)).toEqual(['console: from a thread']);
  });

  it('keeps the first and last lines of a chatty command within the bounds, and says how many it dropped', async () => {
    const id = nextId('chatty');
    await sys.client.submitTask(shTask(id, 'seq 1 5000'));
    expect(await finished(id)).toBe(TaskState.TASK_STATE_SUCCEEDED);
    const logs = await sys.client.getTaskLogs(id);
    expect(logs.truncated).toBe(true);
    const head = Array.from({ length: MAX_LINES / 2 }, (_, i) => String(i + 1));
    const tail = Array.from({ length: MAX_LINES / 2 }, (_, i) => String(5000 - MAX_LINES / 2 + 1 + i));
    expect(texts(logs.lines, LogStream.LOG_STREAM_STDOUT)).toEqual([...head, ...tail]);
    const note = logs.lines.find((l) => l.stream === LogStream.LOG_STREAM_SYSTEM);
    expect(note?.text).toContain(`${5000 - MAX_LINES} lines dropped`);
    // The note sits where the lines are missing.
    expect(logs.lines.indexOf(note!)).toBe(MAX_LINES / 2);
    expect(await sys.r.llen(`${sys.keys.job('cpu_short', id)}:logs`)).toBe(MAX_LINES + 1);
  });

  it('costs nothing for a task that prints nothing: no log list is written', async () => {
    const id = nextId('quiet');
    await sys.client.submitTask(shTask(id, 'true'));
    expect(await finished(id)).toBe(TaskState.TASK_STATE_SUCCEEDED);
    expect(await sys.r.exists(`${sys.keys.job('cpu_short', id)}:logs`)).toBe(0);
    const logs = await sys.client.getTaskLogs(id);
    expect(logs).toMatchObject({ attempt: 1, lines: [], attempts: [], truncated: false });
  });

  it('selects attempts: the latest by default, a named one, or all; across a backoff retry and a RetryTasks', async () => {
    const id = nextId('retried');
    // Fails its first two attempts: the second is the backoff retry, the third a RetryTasks.
    const script = 'echo "attempt $ORCHESTRATOR_ATTEMPT"; [ "$ORCHESTRATOR_ATTEMPT" -ge 3 ]';
    await sys.client.submitTask(shTask(id, script, { maxAttempts: 2 }));
    await settled(id);
    expect((await sys.client.getTaskStatus(id)).state).toBe(TaskState.TASK_STATE_FAILED);
    expect((await sys.client.getTaskLogs(id)).lines.map((l) => [l.attempt, l.text])).toEqual([[2, 'attempt 2']]);

    const retried = await sys.client.retryTasks({ taskIds: [id] });
    expect(retried.retried).toEqual([id]);
    await waitFor(async () => (await sys.client.getTaskStatus(id)).state === TaskState.TASK_STATE_SUCCEEDED);

    const latest = await sys.client.getTaskLogs(id);
    expect(latest).toMatchObject({ attempt: 3, attempts: [1, 2, 3], state: TaskState.TASK_STATE_SUCCEEDED });
    expect(texts(latest.lines)).toEqual(['attempt 3']);
    expect(texts((await sys.client.getTaskLogs(id, { attempt: 1 })).lines)).toEqual(['attempt 1']);
    const all = await sys.client.getTaskLogs(id, { allAttempts: true });
    expect(all.attempt).toBe(0);
    expect(all.lines.map((l) => `${l.attempt}:${l.text}`)).toEqual(['1:attempt 1', '2:attempt 2', '3:attempt 3']);
    // An attempt that printed nothing (or never ran) has no lines, and says which have.
    expect(await sys.client.getTaskLogs(id, { attempt: 7 })).toMatchObject({ attempt: 7, lines: [], attempts: [1, 2, 3] });
  });

  it('answers NOT_FOUND for an unknown task and INVALID_ARGUMENT naming the field for bad input', async () => {
    expect((await grpcError(sys.client.getTaskLogs('no-such-task'))).code).toBe(status.NOT_FOUND);
    const noId = await grpcError(sys.client.getTaskLogs(''));
    expect(noId.code).toBe(status.INVALID_ARGUMENT);
    expect(noId.details).toContain('task_id');
    const id = nextId('bad-attempt');
    await sys.client.submitTask(shTask(id, 'true'));
    const bad = await grpcError(sys.client.getTaskLogs(id, { attempt: -1 }));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details).toContain('attempt');
    const stream = await grpcError(
      (async () => {
        for await (const l of sys.client.streamTaskLogs('no-such-task')) void l;
      })(),
    );
    expect(stream.code).toBe(status.NOT_FOUND);
  });

  it("removes the logs with their task when retention's sweep removes it", async () => {
    const older = nextId('swept');
    const newer = nextId('kept');
    await sys.client.submitTask(shTask(older, 'echo first failure; exit 1', { taskClass: 'gpu_slurm' }));
    await settled(older);
    const olderKey = `${sys.keys.job('gpu_slurm', older)}:logs`;
    await sys.client.submitTask(shTask(newer, 'echo second failure; exit 1', { taskClass: 'gpu_slurm' }));
    await settled(newer);
    await waitFor(async () => (await sys.r.exists(olderKey)) === 0, { message: "the swept task's log list is gone" });
    expect((await grpcError(sys.client.getTaskLogs(older))).code).toBe(status.NOT_FOUND);
    expect(texts((await sys.client.getTaskLogs(newer)).lines)).toEqual(['second failure']);
  });

  it('writes no log list for a task whose job is gone (a late batch of a removed task)', async () => {
    const store = new TaskLogStore(sys.r, sys.keys);
    expect(await store.write('cpu_short', 'never-submitted', ['2026-12-06T01:50:00.123Z [attempt 1] stdout: late'])).toBe(false);
    expect(await sys.r.exists(store.logKey('cpu_short', 'never-submitted'))).toBe(0);
  });

  it('removes the logs with their task (PurgeTasks): nothing is left in Redis', async () => {
    const id = nextId('purged');
    await sys.client.submitTask(shTask(id, 'echo soon gone; exit 1'));
    await settled(id);
    const logKey = `${sys.keys.job('cpu_short', id)}:logs`;
    expect(await sys.r.exists(logKey)).toBe(1);
    await waitFor(async () => (await sys.client.purgeTasks({ olderThanMs: 0, taskClasses: ['cpu_short'], states: [TaskState.TASK_STATE_FAILED] })) >= 1);
    await waitFor(async () => (await sys.r.exists(logKey)) === 0);
    expect((await grpcError(sys.client.getTaskLogs(id))).code).toBe(status.NOT_FOUND);
  });
});

describe('StreamTaskLogs', { timeout: 60_000 }, () => {
  it('serves the lines so far, then live lines while the task runs, and ends when the task ends', async () => {
    const id = nextId('follow');
    const go = join(dir, `${id}.go`);
    // Prints a line, then waits for the test's go before its second line and its end.
    await sys.client.submitTask(shTask(id, `echo first; while [ ! -f ${go} ]; do sleep 0.05; done; echo second >&2`));
    const seen: TaskLogLine[] = [];
    const follow = (async () => {
      for await (const l of sys.client.streamTaskLogs(id)) seen.push(l);
    })();
    await waitFor(() => seen.some((l) => l.text === 'first'), { message: 'the first line, live' });
    expect((await sys.client.getTaskStatus(id)).state).toBe(TaskState.TASK_STATE_RUNNING);
    writeFileSync(go, '');
    await follow;
    expect(seen.map((l) => [l.stream, l.text])).toEqual([
      [LogStream.LOG_STREAM_STDOUT, 'first'],
      [LogStream.LOG_STREAM_STDERR, 'second'],
    ]);
    expect((await sys.client.getTaskStatus(id)).state).toBe(TaskState.TASK_STATE_SUCCEEDED);
  });

  it('follows one named attempt and ends when that attempt is over', async () => {
    const id = nextId('follow-attempt');
    const go = join(dir, `${id}.go`);
    // Attempt 1 fails at once; attempt 2 waits for the go, so the task is still running when attempt 1's follow must end.
    const script = `echo "attempt $ORCHESTRATOR_ATTEMPT"; [ "$ORCHESTRATOR_ATTEMPT" -ge 2 ] || exit 1; while [ ! -f ${go} ]; do sleep 0.05; done`;
    await sys.client.submitTask(shTask(id, script, { maxAttempts: 2 }));
    const first: string[] = [];
    for await (const l of sys.client.streamTaskLogs(id, 1)) first.push(`${l.attempt}:${l.text}`);
    expect(first).toEqual(['1:attempt 1']);
    const second: string[] = [];
    const follow = (async () => {
      for await (const l of sys.client.streamTaskLogs(id, 2)) second.push(`${l.attempt}:${l.text}`);
    })();
    await waitFor(() => second.length === 1, { message: "attempt 2's line, live" });
    writeFileSync(go, '');
    await follow;
    expect(second).toEqual(['2:attempt 2']);
  });
});

describe('orchctl logs', { timeout: 60_000 }, () => {
  const orchctl = (args: string[]) => runOrchctl(['--addr', sys.addr, ...args]);

  it('prints the lines with time, attempt and stream; --json gives one object; -f follows to the end', async () => {
    const id = nextId('cli');
    await sys.client.submitTask(shTask(id, 'echo to stdout; echo to stderr >&2; exit 2'));
    await settled(id);

    const text = await orchctl(['logs', id]);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(/^\S+Z #1 stdout to stdout$/m);
    expect(text.out).toMatch(/^\S+Z #1 stderr to stderr$/m);

    const json = await orchctl(['--json', 'logs', id, '--attempt', '1']);
    expect(json.code, json.err).toBe(0);
    // The TaskLogs message in orchctl's one JSON shape (README "orchctl"): enum names, numbers.
    expect(JSON.parse(json.out)).toMatchObject({
      taskId: id,
      attempt: 1,
      state: 'TASK_STATE_FAILED',
      attempts: [1],
      truncated: false,
    });
    // stdout and stderr are two pipes: their lines' order between them is the pool's reading order.
    expect(JSON.parse(json.out).lines).toEqual(
      expect.arrayContaining([
        { attempt: 1, atMs: expect.any(Number), stream: 'LOG_STREAM_STDOUT', text: 'to stdout' },
        { attempt: 1, atMs: expect.any(Number), stream: 'LOG_STREAM_STDERR', text: 'to stderr' },
      ]),
    );

    const followed = await orchctl(['logs', '-f', id]);
    expect(followed.code, followed.err).toBe(0);
    expect(followed.out.trim().split('\n')).toHaveLength(2);

    const unknown = await orchctl(['logs', 'no-such-task']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.err).toContain('no-such-task');
    const bad = await orchctl(['logs', id, '--attempt', 'x']);
    expect(bad.err).toContain('--attempt');
  });

  it('-f prints live lines of a running task', async () => {
    const id = nextId('cli-follow');
    const go = join(dir, `${id}.go`);
    await sys.client.submitTask(shTask(id, `echo started; while [ ! -f ${go} ]; do sleep 0.05; done; echo done`));
    const p = spawnOrchctl(['--addr', sys.addr, 'logs', '-f', id]);
    await waitFor(() => p.out().includes('started'), { message: 'orchctl logs -f shows the first line while the task runs' });
    expect(p.out()).not.toContain('done');
    writeFileSync(go, '');
    const r = await p.done;
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/#1 stdout done$/m);
  });
});
