/**
 * A task's failure as every reader gets it (src/errors/task-failure.ts, feed-format.ts): built
 * from each executor's error detail, its output tail bounded in bytes without a character cut
 * in half, read back from Redis whatever it holds, written to and read from a results entry,
 * and shown to Bull Board as text without a stack.
 */
import { describe, expect, it } from 'vitest';
import { parseResult, resultFields } from '../src/store/codecs/feed-format.js';
import { TaskError } from '../src/errors/errors.js';
import { failureOf, failureTrace, parseFailure, tailOf } from '../src/errors/task-failure.js';
import { slurmOutcome } from '../workers/executors/slurm.js';

describe('failureOf', () => {
  it('takes the exit code and the output of a command, stderr first', () => {
    const e = new TaskError('task_failed', 'command exited with code 2', {
      detail: { exitCode: 2, stdout: 'step 1\nstep 2\n', stderr: 'Traceback\nValueError: x\n' },
    });
    expect(failureOf(e, 4096)).toEqual({
      message: 'command exited with code 2',
      kind: 'task_failed',
      exitCode: 2,
      outputTail: '[stderr]\nTraceback\nValueError: x\n[stdout]\nstep 1\nstep 2',
      retryable: true,
    });
  });

  it('takes the signal of a killed command and no exit code', () => {
    const f = failureOf(
      new TaskError('task_failed', 'command killed by signal SIGKILL', { detail: { signal: 'SIGKILL', exitCode: null, stdout: '', stderr: 'oom\n' } }),
      4096,
    );
    expect(f).toMatchObject({ signal: 'SIGKILL', outputTail: 'oom' });
    expect(f.exitCode).toBeUndefined();
  });

  it("takes a Slurm job's exit code and output file, and an HTTP runner's body", () => {
    let err: unknown;
    try {
      slurmOutcome(
        { jobId: '42', state: 'FAILED', exitCode: 7, reason: 'NonZeroExitCode', signal: 0 } as Parameters<typeof slurmOutcome>[0],
        'epoch 3: nan loss\n',
        1000,
      );
    } catch (e) {
      err = e;
    }
    expect(failureOf(err as TaskError, 4096)).toMatchObject({
      message: 'slurm job 42 exited with code 7',
      exitCode: 7,
      outputTail: 'epoch 3: nan loss',
      retryable: true,
    });
    try {
      slurmOutcome({ jobId: '43', state: 'FAILED', exitCode: 0, reason: '', signal: 9 } as Parameters<typeof slurmOutcome>[0], '', 1000);
    } catch (e) {
      expect(failureOf(e as TaskError, 4096)).toMatchObject({ message: 'slurm job 43 killed by signal 9', signal: 'SIGKILL' });
    }
    const http = new TaskError('task_failed', 'POST http://runner/: answered 500 Internal Server Error', {
      detail: { status: 500, body: '{"error":"db down"}' },
    });
    expect(failureOf(http, 4096)).toMatchObject({ outputTail: '{"error":"db down"}', retryable: true });
    expect(failureOf(http, 4096).exitCode).toBeUndefined();
  });

  it('keeps at most the configured bytes, the end of the output, and a cancel is never retryable', () => {
    const f = failureOf(new TaskError('cancelled', 'cancelled: stop', { detail: { stdout: `${'x'.repeat(10_000)}END` } }), 100);
    expect(Buffer.byteLength(f.outputTail)).toBeLessThanOrEqual(100);
    expect(f.outputTail.endsWith('END')).toBe(true);
    expect(f.retryable).toBe(false);
    expect(failureOf(new TaskError('task_failed', 'x', { detail: { stderr: 'abc' } }), 0).outputTail).toBe('');
    const both = failureOf(new TaskError('task_failed', 'x', { detail: { stdout: 'o'.repeat(5000), stderr: 'e'.repeat(5000) } }), 1000);
    expect(Buffer.byteLength(both.outputTail)).toBeLessThanOrEqual(1000);
  });

  it('takes only the first line of a message', () => {
    expect(failureOf(new TaskError('task_failed', 'first\nsecond'), 10).message).toBe('first ...');
  });
});

describe('tailOf', () => {
  it('never cuts a character in half', () => {
    const s = 'é'.repeat(100); // 2 bytes each
    const t = tailOf(s, 51);
    expect(t).toBe('é'.repeat(25));
    expect(tailOf('short', 100)).toBe('short');
  });
});

describe('parseFailure', () => {
  it('reads back what failureOf wrote', () => {
    const f = failureOf(new TaskError('timed_out', 'timed out after 300 ms', { detail: { exitCode: 137, stdout: 'loading' } }), 4096);
    expect(parseFailure(JSON.stringify(f))).toEqual(f);
  });

  it('gives undefined, never throws, for what is not a failure, and bounds what it takes', () => {
    for (const bad of [undefined, null, '', 'not json', '[]', '1', '{"kind":"x"}', '{"message":3,"kind":"x"}']) expect(parseFailure(bad)).toBeUndefined();
    const odd = parseFailure(
      JSON.stringify({ message: 'm'.repeat(10_000), kind: 'k', exitCode: 1.5, signal: 7, outputTail: 'o'.repeat(100_000), retryable: 'yes' }),
    )!;
    expect(odd.message.length).toBe(4096);
    expect(odd.exitCode).toBeUndefined();
    expect(odd.signal).toBeUndefined();
    expect(Buffer.byteLength(odd.outputTail)).toBe(65_536);
    expect(odd.retryable).toBe(false);
  });
});

describe('results entries', () => {
  it('carry the failure in their own fields and read it back', () => {
    const failure = failureOf(new TaskError('task_failed', 'command exited with code 3', { detail: { exitCode: 3, stderr: 'boom\n' } }), 4096);
    const fields = resultFields({
      taskId: 't',
      taskClass: 'c',
      attempt: 1,
      atMs: 1,
      state: 'failed',
      error: failure.message,
      errorCode: 'task_failed',
      durationMs: 5,
      failure,
    });
    expect(fields).toEqual(expect.arrayContaining(['exit_code', '3', 'output_tail', 'boom', 'retryable', '1']));
    expect(parseResult(fields).failure).toEqual(failure);
    // An entry written before these fields: the failure from its error and code.
    const old = parseResult(['task_id', 't', 'state', 'failed', 'error', 'timed out after 5 ms', 'error_code', 'timed_out', 'duration_ms', '5']);
    expect(old.failure).toEqual({ message: 'timed out after 5 ms', kind: 'timed_out', outputTail: '', retryable: false });
    // Nonsense in the new fields is left out, not delivered.
    const odd = parseResult(['task_id', 't', 'state', 'failed', 'error', 'e', 'exit_code', '3x', 'signal', '', 'duration_ms', '5']);
    expect(odd.failure?.exitCode).toBeUndefined();
    expect(parseResult(['task_id', 't', 'state', 'succeeded', 'result', '1', 'duration_ms', '5']).failure).toBeUndefined();
  });
});

describe('failureTrace', () => {
  it("is the task's failure as text: no stack frames", () => {
    const f = failureOf(new TaskError('task_failed', 'command exited with code 3', { detail: { exitCode: 3, stderr: 'boom\n' } }), 4096);
    const trace = failureTrace(f, 2);
    expect(trace).toBe('command exited with code 3\n  (attempt 2, task_failed, exit code 3, retryable)\n--- output tail ---\nboom');
    expect(trace).not.toMatch(/^\s+at /m);
  });
});
