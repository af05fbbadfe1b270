/** The slurm executor's pure parts: reading scontrol and what each end state means (its command script, run by sh: slurm-script.int.test.ts). */
import { describe, expect, it } from 'vitest';
import { parseScontrolJob, type SlurmJobInfo } from '../src/slurm/slurm-cli.js';
import { TaskError } from '../src/errors/errors.js';
import { slurmOutcome } from '../workers/executors/slurm.js';

const ended = (state: string, exitCode = 0, signal = 0): SlurmJobInfo => ({
  jobId: '42',
  state,
  exitCode,
  signal,
  reason: 'None',
  stdoutPath: '/spool/42.out',
});

function failure(info: SlurmJobInfo): TaskError {
  try {
    slurmOutcome(info, 'tail', 1);
  } catch (err) {
    return err as TaskError;
  }
  throw new Error(`${info.state} did not fail`);
}

describe('slurm executor parts', () => {
  it('reads the fields it needs from scontrol --oneliner show job', () => {
    const line =
      'JobId=7 JobName=orq:p:t:1 UserId=root(0) JobState=TIMEOUT Reason=TimeLimit Dependency=(null) ExitCode=0:15 RunTime=00:01:00 ' +
      'Command=/spool/t.1.sh WorkDir=/spool StdErr=/spool/7.out StdIn=/dev/null StdOut=/spool/7.out Power=';
    expect(parseScontrolJob(line)).toEqual({ jobId: '7', state: 'TIMEOUT', exitCode: 0, signal: 15, reason: 'TimeLimit', stdoutPath: '/spool/7.out' });
    expect(parseScontrolJob('')).toBeUndefined();
  });

  it('maps each end state to a result or a typed error', () => {
    expect(slurmOutcome(ended('COMPLETED'), 'out\n', 5)).toEqual({
      slurmJobId: '42',
      state: 'COMPLETED',
      exitCode: 0,
      stdout: 'out\n',
      stderr: '',
      durationMs: 5,
    });
    const cases: [string, number, number, string, boolean, RegExp][] = [
      ['FAILED', 3, 0, 'task_failed', true, /exited with code 3/],
      ['FAILED', 0, 9, 'task_failed', true, /killed by signal 9/],
      ['OUT_OF_MEMORY', 0, 9, 'task_failed', false, /ran out of memory/],
      ['TIMEOUT', 0, 15, 'timed_out', false, /Slurm time limit/],
      ['CANCELLED', 0, 15, 'task_failed', false, /cancelled in Slurm/],
      ['NODE_FAIL', 0, 0, 'task_failed', true, /ended NODE_FAIL/],
      ['PREEMPTED', 0, 0, 'task_failed', true, /ended PREEMPTED/],
    ];
    for (const [state, exitCode, signal, code, retryable, message] of cases) {
      const err = failure(ended(state, exitCode, signal));
      expect(err, state).toBeInstanceOf(TaskError);
      expect([err.code, err.retryable], state).toEqual([code, retryable]);
      expect(err.message).toMatch(message);
      expect(err.detail).toMatchObject({ slurmJobId: '42', state, exitCode, stdout: 'tail' });
    }
  });
});
