/**
 * The pool's reading of a job's data (workers/job-admission.ts) in both layouts: jobs an earlier
 * version queued carry their executor and timeout; jobs of this one carry a handler's executor in
 * their name and no timeout unless the caller gave one, so the pool applies its class's.
 */
import { describe, expect, it } from 'vitest';
import { resolveTaskClasses } from '../queues/task-classes.js';
import { TaskError } from '../src/errors/errors.js';
import { DEFAULT_EXECUTOR_POLICY } from '../src/executors/executor-policy.js';
import { JobAdmission } from '../workers/job-admission.js';

const classes = resolveTaskClasses({ cpu_short: { timeoutMs: 7_000 } });
const admission = new JobAdmission({ policy: { ...DEFAULT_EXECUTOR_POLICY, testHandlers: true }, classes, runAs: new Map(), uid: 1000 });
const payload = { a: '1' };

describe("the pool's admission of a job", () => {
  it('takes a handler from the job name and the timeout from its class when the data has neither', () => {
    expect(admission.admit('cpu_short', { name: 'handler:echo', data: { payload } })).toEqual({
      executor: { kind: 'handler', name: 'echo' },
      payload,
      timeoutMs: 7_000,
    });
  });

  it('keeps a timeout the data gives', () => {
    expect(admission.admit('cpu_short', { name: 'handler:echo', data: { payload, timeoutMs: 250 } }).timeoutMs).toBe(250);
  });

  it('reads a job an earlier version queued: executor and timeout in its data, which win over its name', () => {
    const old = { executor: { kind: 'handler', name: 'fail' }, payload, timeoutMs: 60_000 };
    expect(admission.admit('cpu_short', { name: 'handler:echo', data: old })).toEqual({
      executor: { kind: 'handler', name: 'fail' },
      payload,
      timeoutMs: 60_000,
    });
  });

  it.each([
    ['a name that names no handler', { name: 'command', data: { payload } }, /has no executor and its name "command" names none/],
    ['a handler name the policy refuses', { name: 'handler:spin', data: { payload } }, /test handler/],
    ['a timeout of zero in the data', { name: 'handler:echo', data: { payload, timeoutMs: 0 } }, /timeoutMs must be from 1/],
    ['an executor that is not an object', { name: 'handler:echo', data: { payload, executor: null } }, /executor is not an object/],
  ])('refuses %s as policy_denied', (_, job, reason) => {
    const strict = new JobAdmission({ policy: DEFAULT_EXECUTOR_POLICY, classes, runAs: new Map(), uid: 1000 });
    const err = (() => {
      try {
        strict.admit('cpu_short', job);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(TaskError);
    expect((err as TaskError).code).toBe('policy_denied');
    expect((err as TaskError).message).toMatch(reason);
  });
});
