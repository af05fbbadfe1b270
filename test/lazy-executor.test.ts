/**
 * lazyExecutor (workers/executors/executor.ts): the executor is built on its first task only,
 * once however many tasks come at once, and closing or abandoning builds nothing.
 */
import { describe, expect, it } from 'vitest';
import { TaskError } from '../src/errors/errors.js';
import { lazyExecutor, type ExecutionContext, type Executor } from '../workers/executors/executor.js';

const ctx = (taskId: string): ExecutionContext => ({
  taskId,
  taskClass: 'cpu_short',
  attempt: 1,
  signal: new AbortController().signal,
  env: {},
  progress: async () => undefined,
});

function counted() {
  const calls = { builds: 0, closes: 0, abandoned: [] as string[] };
  const build = async (): Promise<Executor<{ fail?: boolean }>> => {
    calls.builds++;
    return {
      kind: 'runner',
      run: async (spec, payload) => {
        if (spec.fail) throw new TaskError('task_failed', 'no task runner of (none) is configured on this pool', { retryable: false });
        return { echoed: payload };
      },
      close: async () => void calls.closes++,
      abandon: async (taskId) => void calls.abandoned.push(taskId),
    };
  };
  return { calls, executor: lazyExecutor('runner', build) };
}

describe('lazyExecutor', () => {
  it('builds nothing to close or abandon before its first task', async () => {
    const { calls, executor } = counted();
    expect(executor.kind).toBe('runner');
    await executor.abandon!('t0', 1);
    await executor.close!();
    expect(calls).toEqual({ builds: 0, closes: 0, abandoned: [] });
  });

  it('builds once for tasks that arrive together, runs each, and passes abandon and close on once built', async () => {
    const { calls, executor } = counted();
    const results = await Promise.all([executor.run({}, { a: '1' }, ctx('t1')), executor.run({}, { a: '2' }, ctx('t2'))]);
    expect(results).toEqual([{ echoed: { a: '1' } }, { echoed: { a: '2' } }]);
    expect(calls.builds).toBe(1);
    await executor.abandon!('t1', 1);
    await executor.close!();
    expect(calls).toEqual({ builds: 1, closes: 1, abandoned: ['t1'] });
  });

  it("fails a task with the built executor's error", async () => {
    const { executor } = counted();
    await expect(executor.run({ fail: true }, {}, ctx('t3'))).rejects.toMatchObject({
      code: 'task_failed',
      message: expect.stringContaining('no task runner'),
    });
  });
});
