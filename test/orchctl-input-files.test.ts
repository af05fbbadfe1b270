/**
 * The files orchctl reads (src/cli/input-files.ts): the client's camelCase or the proto's
 * snake_case names, short or proto enum names, int64 as strings, and a typo refused with its path.
 */
import { describe, expect, it } from 'vitest';
import { taskFromFile, workflowFromFile } from '../src/cli/input-files.js';

describe('orchctl input files', () => {
  it('reads a task in either naming and either executor form', () => {
    const snake = taskFromFile(
      {
        task_id: 't',
        task_class: 'cpu_short',
        payload: { n: 1, s: 'x' },
        max_attempts: '3',
        timeout_ms: 500,
        backoff: { type: 'BACKOFF_TYPE_EXPONENTIAL', delay_ms: '10' },
        executor: { handler: { name: 'sleep' } },
      },
      'f',
    );
    const camel = taskFromFile(
      {
        taskId: 't',
        taskClass: 'cpu_short',
        payload: { n: '1', s: 'x' },
        maxAttempts: 3,
        timeoutMs: 500,
        backoff: { type: 'exponential', delayMs: 10 },
        executor: { handler: 'sleep' },
      },
      'f',
    );
    expect(snake).toEqual(camel);
    expect(snake).toMatchObject({
      taskClass: 'cpu_short',
      payload: { n: '1' },
      maxAttempts: 3,
      backoff: { type: 'exponential', delayMs: 10 },
      executor: { handler: 'sleep' },
    });
    const container = taskFromFile(
      {
        task_class: 'gpu',
        executor: {
          container: { image: 'i', working_dir: '/w', memory_bytes: '1024', mounts: [{ host_path: '/a', container_path: '/b' }], env: { MY_VAR: '1' } },
        },
      },
      'f',
    );
    expect(container.executor).toMatchObject({
      container: { image: 'i', workingDir: '/w', memoryBytes: 1024, mounts: [{ hostPath: '/a', containerPath: '/b' }], env: { MY_VAR: '1' } },
    });
  });

  it('refuses unknown fields, wrong types and two executors, naming where', () => {
    expect(() => taskFromFile({ task_class: 'c', max_attempt: 2 }, 'tasks.json: task 3')).toThrow('tasks.json: task 3.max_attempt: unknown field');
    expect(() => taskFromFile({ task_class: 'c', taskClass: 'd' }, 'f')).toThrow('given twice');
    expect(() => taskFromFile({ task_class: 'c', priority: 'high' }, 'f')).toThrow('f.priority: expected a number');
    expect(() => taskFromFile({ payload: {} }, 'f')).toThrow('needs task_class');
    expect(() => taskFromFile({ task_class: 'c', executor: { handler: 'a', command: { name: 'b' } } }, 'f')).toThrow('f.executor: expected exactly one');
    expect(() => taskFromFile({ task_class: 'c', backoff: { type: 'linear' } }, 'f')).toThrow('f.backoff.type: expected one of fixed, exponential');
  });

  it('reads a workflow in either naming', () => {
    const w = workflowFromFile(
      {
        name: 'w',
        failure_policy: 'FAILURE_POLICY_CONTINUE',
        steps: [
          { step_id: 'a', task: { task_class: 'c' } },
          { stepId: 'b', depends_on: ['a'], task: { taskClass: 'c' } },
        ],
      },
      'wf.json',
    );
    expect(w).toMatchObject({ name: 'w', failurePolicy: 'continue', steps: [{ stepId: 'a' }, { stepId: 'b', dependsOn: ['a'] }] });
    expect(() => workflowFromFile({ name: 'w', steps: [{ step_id: 'a', depends: ['x'], task: { task_class: 'c' } }] }, 'wf.json')).toThrow(
      'wf.json.steps[0].depends: unknown field',
    );
  });
});
