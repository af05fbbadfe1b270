import { describe, expect, it } from 'vitest';
import { resolveTaskClasses, type ClassPolicyOverrides } from '../queues/task-classes.js';
import { OrchestratorError } from '../src/errors/errors.js';
import { DEFAULT_EXECUTOR_POLICY, type ExecutorPolicy } from '../src/executors/executor-policy.js';
import {
  resolveTask,
  fromBullPriority,
  toBullPriority,
  type ContainerExecutorSpec,
  type SlurmExecutorSpec,
  type TaskSubmission,
} from '../src/tasks/task-spec.js';

// Every kind open: these suites check each executor's own validation (the policy's rules have
// theirs in test/security/execution-policy.test.ts).
const open: ClassPolicyOverrides = {
  executors: ['handler', 'command', 'http', 'container', 'slurm'],
  command: { raw: true },
  container: { images: ['busybox:*'] },
  slurm: { raw: true, partitions: ['debug'] },
};
const classes = resolveTaskClasses({ cpu_short: { policy: open }, gpu_slurm: { policy: open } });
const opts = { classes, maxPayloadBytes: 100, field: 'task' };
const withPolicy = (p: Partial<ExecutorPolicy>): ExecutorPolicy => ({ ...DEFAULT_EXECUTOR_POLICY, ...p });
const ok: TaskSubmission = { taskClass: 'cpu_short', payload: { a: 'b' } };

function fieldOf(t: TaskSubmission): string | undefined {
  try {
    resolveTask(t, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(OrchestratorError);
    expect(['invalid_argument', 'permission_denied']).toContain((err as OrchestratorError).code);
    return (err as OrchestratorError).field;
  }
  return undefined;
}

describe('task validation', () => {
  it('generates an id and applies class defaults', () => {
    const t = resolveTask(ok, opts);
    expect(t.taskId).toMatch(/^[A-Za-z][A-Za-z0-9]{21}$/);
    expect(t.attempts).toBe(3);
    expect(t.executor).toEqual({ kind: 'handler', name: 'echo' });
    expect(t.jobName).toBe('handler:echo');
  });

  it('stores only what the job name and the class do not say', () => {
    // The class's timeout and backoff apply on the pool that runs the task; the handler is the job name.
    const t = resolveTask(ok, opts);
    expect(t.data).toEqual({ payload: ok.payload });
    expect(t.backoff).toBeUndefined();
    const given = resolveTask(
      { ...ok, timeoutMs: 5000, backoff: { type: 'fixed', delayMs: 20 }, executor: { kind: 'command', argv: ['true'], env: {}, cwd: '' } },
      opts,
    );
    expect(given.data).toMatchObject({ timeoutMs: 5000, executor: { kind: 'command', argv: ['true'] } });
    expect(given.backoff).toEqual({ type: 'fixed', delay: 20 });
  });

  it('generates distinct ids that pass its own validation', () => {
    const ids = Array.from({ length: 10_000 }, () => resolveTask(ok, opts).taskId);
    expect(new Set(ids).size).toBe(10_000);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z][A-Za-z0-9]{21}$/);
  });

  it('maps priority so higher runs first', () => {
    expect(toBullPriority(1000)).toBe(1);
    expect(toBullPriority(1)).toBe(1000);
    expect(toBullPriority(10)).toBeGreaterThan(toBullPriority(11));
    // Priority 0: BullMQ's wait list (no BullMQ priority), which the pools take last.
    expect(toBullPriority(0)).toBe(0);
    for (const p of [0, 1, 7, 500, 1000]) expect(fromBullPriority(toBullPriority(p))).toBe(p);
    // A job queued by a previous version with priority 0 carries BullMQ priority 1001.
    expect(fromBullPriority(1001)).toBe(0);
  });

  it('gives equal content the same digest and different content another', () => {
    const a = resolveTask({ ...ok, taskId: 'x', payload: { a: '1', b: '2' } }, opts);
    const b = resolveTask({ ...ok, taskId: 'x', payload: { b: '2', a: '1' } }, opts);
    const c = resolveTask({ ...ok, taskId: 'x', payload: { a: '1', b: '3' } }, opts);
    expect(a.digest).toBe(b.digest);
    expect(a.digest).not.toBe(c.digest);
  });

  it.each<[string, TaskSubmission]>([
    ['task.task_class', { ...ok, taskClass: 'nope' }],
    ['task.payload', { ...ok, payload: {} }],
    ['task.payload', { ...ok, payload: { big: 'x'.repeat(200) } }],
    ['task.priority', { ...ok, priority: -1 }],
    ['task.priority', { ...ok, priority: 1001 }],
    ['task.max_attempts', { ...ok, maxAttempts: -2 }],
    ['task.task_id', { ...ok, taskId: 'has space' }],
    ['task.task_id', { ...ok, taskId: 'x'.repeat(129) }],
    ['task.timeout_ms', { ...ok, timeoutMs: 1.5 }],
    ['task.executor.command.argv', { ...ok, executor: { kind: 'command', argv: [], env: {}, cwd: '' } }],
    ['task.executor.command.env', { ...ok, executor: { kind: 'command', argv: ['true'], env: { 'BAD-NAME': '1' }, cwd: '' } }],
    ['task.executor.handler.name', { ...ok, executor: { kind: 'handler', name: '../etc/passwd' } }],
    // The default policy allows no http URL at all.
    ['task.executor.http.url', { ...ok, executor: { kind: 'http', url: 'http://127.0.0.1:8080/run', method: '', headers: {} } }],
  ])('rejects bad %s', (field, t) => {
    expect(fieldOf(t)).toBe(field);
  });
});

describe('http executor validation', () => {
  const policy = withPolicy({ httpAllowedUrlPrefixes: ['http://runner.internal:8080/tasks/'] });
  const http = (url: string, headers: Record<string, string> = {}): TaskSubmission => ({
    ...ok,
    taskId: 'h',
    executor: { kind: 'http', url, method: '', headers },
  });

  it('normalises the URL, defaults the method to POST and digests headers in any order', () => {
    const a = resolveTask(http('HTTP://Runner.Internal:8080/tasks/a/../b', { a: '1', b: '2' }), { ...opts, executors: policy });
    const b = resolveTask(http('http://runner.internal:8080/tasks/b', { b: '2', a: '1' }), { ...opts, executors: policy });
    expect(a.data.executor).toEqual({ kind: 'http', url: 'http://runner.internal:8080/tasks/b', method: 'POST', headers: { a: '1', b: '2' } });
    expect(a.digest).toBe(b.digest);
    expect(a.jobName).toBe('http');
  });

  it.each([
    ['http://runner.internal:8080/tasks', 'the prefix without its slash'],
    ['http://runner.internal:8081/tasks/x', 'another port'],
    ['http://runner.internal.evil:8080/tasks/x', 'a lookalike host'],
    ['http://runner.internal:8080/tasks/%2E%2E/admin', 'an encoded climb out of the prefix'],
    ['http://runner.internal:8080@evil/tasks/x', 'credentials naming the allowed host'],
  ])('refuses %s (%s)', (url) => {
    expect(() => resolveTask(http(url), { ...opts, executors: policy })).toThrow(/executor\.http\.url/);
  });
});

describe('container executor validation', () => {
  const base: ContainerExecutorSpec = {
    kind: 'container',
    image: 'busybox:1',
    command: ['true'],
    env: {},
    workingDir: '',
    cpuMillis: 0,
    memoryBytes: 0,
    pidsLimit: 0,
    user: '',
    network: false,
    mounts: [],
  };
  const task = (c: Partial<ContainerExecutorSpec>): TaskSubmission => ({ ...ok, executor: { ...base, ...c } });

  it('accepts a plain container and keeps its env in key order', () => {
    const t = resolveTask(task({ env: { B: '2', A: '1' }, memoryBytes: 64 << 20, user: '1000:1000', workingDir: '/work' }), opts);
    expect(t.data.executor).toMatchObject({ kind: 'container', image: 'busybox:1', env: { A: '1', B: '2' }, memoryBytes: 64 << 20 });
    expect(Object.keys((t.data.executor as { env: object }).env)).toEqual(['A', 'B']);
    expect(t.jobName).toBe('container');
  });

  it('allows a network only when the policy does', () => {
    expect(fieldOf(task({ network: true }))).toBe('task.executor.container.network');
    expect(() => resolveTask(task({ network: true }), { ...opts, executors: withPolicy({ containerAllowNetwork: true }) })).not.toThrow();
  });

  it('binds host paths only under an allowed directory, by path components', () => {
    const policy = withPolicy({ containerAllowedMounts: ['/srv/data'] });
    const mount = (hostPath: string, containerPath = '/data') => task({ mounts: [{ hostPath, containerPath, writable: false }] });
    expect(resolveTask(mount('/srv/data/./set1/'), { ...opts, executors: policy }).data.executor).toMatchObject({
      mounts: [{ hostPath: '/srv/data/set1', containerPath: '/data', writable: false }],
    });
    const field = (t: TaskSubmission) => {
      try {
        resolveTask(t, { ...opts, executors: policy });
      } catch (err) {
        return (err as OrchestratorError).field;
      }
      return undefined;
    };
    expect(field(mount('/srv/database'))).toBe('task.executor.container.mounts[0].host_path');
    expect(field(mount('/srv/data/../../etc'))).toBe('task.executor.container.mounts[0].host_path');
    expect(field(mount('relative/path'))).toBe('task.executor.container.mounts[0].host_path');
    expect(field(mount('/srv/data/x', '/'))).toBe('task.executor.container.mounts[0].container_path');
    // The default policy allows no host path at all.
    expect(fieldOf(mount('/srv/data/x'))).toBe('task.executor.container.mounts[0].host_path');
  });

  it.each<[string, Partial<ContainerExecutorSpec>]>([
    ['task.executor.container.image', { image: '' }],
    ['task.executor.container.image', { image: 'has space' }],
    ['task.executor.container.env', { env: { 'A-B': '1' } }],
    ['task.executor.container.working_dir', { workingDir: 'relative' }],
    ['task.executor.container.user', { user: 'root;rm' }],
    ['task.executor.container.memory_bytes', { memoryBytes: 1024 }],
    ['task.executor.container.cpu_millis', { cpuMillis: 1.5 }],
  ])('rejects bad %s', (field, c) => {
    expect(fieldOf(task(c))).toBe(field);
  });
});

describe('slurm executor validation', () => {
  const base: SlurmExecutorSpec = {
    kind: 'slurm',
    script: '',
    command: ['train'],
    partition: '',
    gres: '',
    cpus: 0,
    memoryMb: 0,
    timeLimitMinutes: 0,
    env: {},
  };
  const task = (e: Partial<SlurmExecutorSpec>): TaskSubmission => ({ ...ok, taskClass: 'gpu_slurm', executor: { ...base, ...e } });

  it('accepts a command or a script, with gres, limits and env in key order', () => {
    const t = resolveTask(task({ gres: 'gpu:a100:2', cpus: 8, memoryMb: 16_000, timeLimitMinutes: 90, env: { B: '2', A: '1' } }), opts);
    expect(t.data.executor).toMatchObject({ kind: 'slurm', command: ['train'], gres: 'gpu:a100:2', cpus: 8, env: { A: '1', B: '2' } });
    expect(Object.keys((t.data.executor as SlurmExecutorSpec).env)).toEqual(['A', 'B']);
    expect(t.jobName).toBe('slurm');
    expect(() => resolveTask(task({ command: [], script: '#!/bin/sh\n#SBATCH --nodes=1\nsrun train\n' }), opts)).not.toThrow();
  });

  it('names the field at fault', () => {
    expect(fieldOf(task({ script: '#!/bin/sh\ntrue\n' }))).toBe('task.executor.slurm');
    expect(fieldOf(task({ command: [] }))).toBe('task.executor.slurm');
    expect(fieldOf(task({ command: [], script: 'echo no shebang' }))).toBe('task.executor.slurm.script');
    expect(fieldOf(task({ command: [''] }))).toBe('task.executor.slurm.command');
    expect(fieldOf(task({ partition: 'a b' }))).toBe('task.executor.slurm.partition');
    expect(fieldOf(task({ partition: 'other' }))).toBe('task.executor.slurm.partition');
    expect(fieldOf(task({ gres: 'gpu:1;rm -rf /' }))).toBe('task.executor.slurm.gres');
    expect(fieldOf(task({ cpus: -1 }))).toBe('task.executor.slurm.cpus');
    expect(fieldOf(task({ env: { 'A=B': '1' } }))).toBe('task.executor.slurm.env');
  });
});
