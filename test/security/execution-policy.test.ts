/**
 * The execution policy at the front end (src/tasks/task-spec.ts checkExecutor, with the class
 * policies of queues/task-classes.ts and config): what the safe defaults refuse, how each rule
 * opens, and that a named command's values cannot become another command or an option.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig, executorPolicyOf, ConfigError, type ConfigInput } from '../../src/config/config.js';
import { parseCommandTemplate, fillCommandTemplate } from '../../src/executors/command-template.js';
import { OrchestratorError } from '../../src/errors/errors.js';
import { resolveTask, type ExecutorSpec, type TaskSubmission } from '../../src/tasks/task-spec.js';

function setup(overrides: ConfigInput = {}) {
  const config = loadConfig({ env: {}, overrides });
  return { classes: config.classes, executors: executorPolicyOf(config), maxPayloadBytes: 1 << 20, field: 'task' };
}

/** The error a submission gets, or undefined when it is accepted. */
function refusal(t: TaskSubmission, opts: ReturnType<typeof setup>): OrchestratorError | undefined {
  try {
    resolveTask(t, opts);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(OrchestratorError);
    return err as OrchestratorError;
  }
}

const container = (c: Partial<Extract<ExecutorSpec, { kind: 'container' }>> = {}): ExecutorSpec => ({
  kind: 'container',
  image: 'registry.local/tools/convert:1',
  command: [],
  env: {},
  workingDir: '',
  cpuMillis: 0,
  memoryBytes: 0,
  pidsLimit: 0,
  user: '',
  network: false,
  mounts: [],
  ...c,
});
const slurm = (s: Partial<Extract<ExecutorSpec, { kind: 'slurm' }>> = {}): ExecutorSpec => ({
  kind: 'slurm',
  script: '',
  command: [],
  partition: '',
  gres: '',
  cpus: 0,
  memoryMb: 0,
  timeLimitMinutes: 0,
  env: {},
  ...s,
});

describe('the safe defaults', () => {
  const opts = setup();
  const task = (executor: ExecutorSpec | undefined, taskClass = 'cpu_short'): TaskSubmission => ({ taskClass, payload: { a: '1' }, executor });

  it('accept handler tasks', () => {
    expect(refusal(task(undefined), opts)).toBeUndefined();
    expect(refusal(task({ kind: 'handler', name: 'sleep' }), opts)).toBeUndefined();
  });

  it.each<[string, ExecutorSpec, string]>([
    ['a raw command', { kind: 'command', argv: ['sh', '-c', 'id'], env: {}, cwd: '' }, 'task.executor.command'],
    ['a named command', { kind: 'command', argv: [], env: {}, cwd: '', name: 'x', args: {} }, 'task.executor.command'],
    ['a container', container(), 'task.executor.container'],
    ['an http call', { kind: 'http', url: 'http://127.0.0.1:1/x', method: '', headers: {} }, 'task.executor.http'],
    ['a Slurm job', slurm({ command: ['true'] }), 'task.executor.slurm'],
  ])('refuse %s on every CPU and GPU class, naming the rule', (_what, executor, field) => {
    for (const cls of ['cpu_short', 'cpu_long', 'gpu']) {
      const err = refusal(task(executor, cls), opts)!;
      expect(err.code).toBe('permission_denied');
      expect(err.field).toBe(field);
      expect(err.message).toContain(`classes.${cls}.policy.executors`);
    }
  });

  it('refuse the test handlers', () => {
    for (const name of ['fail', 'crash', 'spin']) {
      const err = refusal(task({ kind: 'handler', name }), opts)!;
      expect(err.code).toBe('permission_denied');
      expect(err.message).toContain('executors.handler.testHandlers');
    }
    expect(refusal(task({ kind: 'handler', name: 'crash' }), setup({ executors: { handler: { testHandlers: true } } }))).toBeUndefined();
  });

  it('let gpu_slurm run only named Slurm scripts, on the default partition and account', () => {
    const raw = refusal(task(slurm({ script: '#!/bin/sh\nid\n' }), 'gpu_slurm'), opts)!;
    expect(raw.code).toBe('permission_denied');
    expect(raw.message).toContain('classes.gpu_slurm.policy.slurm.raw');
    const named = setup({ executors: { slurm: { scripts: { train: { argv: ['/opt/train.sh', '{epochs}'] } } } } });
    expect(refusal(task(slurm({ name: 'train', args: { epochs: '3' } }), 'gpu_slurm'), named)).toBeUndefined();
    expect(refusal(task(slurm({ name: 'train', args: { epochs: '3' }, partition: 'gpu' }), 'gpu_slurm'), named)!.message).toContain('policy.slurm.partitions');
    expect(refusal(task(slurm({ name: 'train', args: { epochs: '3' }, account: 'lab' }), 'gpu_slurm'), named)!.message).toContain('policy.slurm.accounts');
  });
});

describe('named commands', () => {
  const opts = setup({
    executors: {
      command: { commands: { resize: { argv: ['convert', '{input}', '-resize', '{size}', '--out={output}'] }, shift: { argv: ['seq', '{from:any}', '3'] } } },
    },
    classes: { cpu_short: { policy: { executors: ['handler', 'command'] } } },
  });
  const named = (name: string, args: Record<string, string>, payload: Record<string, string> = { a: '1' }): TaskSubmission => ({
    taskClass: 'cpu_short',
    payload,
    executor: { kind: 'command', argv: [], env: {}, cwd: '', name, args },
  });
  const argvOf = (t: TaskSubmission) => {
    const template = opts.executors.commands.get(t.executor!.kind === 'command' ? t.executor!.name! : '')!;
    return fillCommandTemplate(template, (t.executor as { args: Record<string, string> }).args, t.payload, 'executor.command', 'x');
  };

  it('fill whole arguments, from args then the payload', () => {
    const t = named('resize', { input: 'in.png', size: '50%' }, { output: 'out.png' });
    expect(refusal(t, opts)).toBeUndefined();
    expect(argvOf(t)).toEqual(['convert', 'in.png', '-resize', '50%', '--out=out.png']);
  });

  it.each([
    ['a shell sequence', 'x; rm -rf /'],
    ['a command substitution', '$(id)'],
    ['backticks', '`id`'],
    ['spaces', 'a b c'],
  ])('keep %s as one literal argument', (_what, value) => {
    const t = named('resize', { input: value, size: '1', output: 'o' });
    expect(refusal(t, opts)).toBeUndefined();
    expect(argvOf(t)).toEqual(['convert', value, '-resize', '1', '--out=o']);
  });

  it.each([
    ['a leading "-" (an option)', '-write /etc/passwd', 'task.executor.command.args.input'],
    ['a leading "--"', '--help', 'task.executor.command.args.input'],
    ['NUL', 'a\0b', 'task.executor.command.args.input'],
    ['a newline', 'a\nb', 'task.executor.command.args.input'],
    ['a carriage return', 'a\rb', 'task.executor.command.args.input'],
  ])('refuse %s in a value', (_what, value, field) => {
    const err = refusal(named('resize', { input: value, size: '1', output: 'o' }), opts)!;
    expect(err.code).toBe('invalid_argument');
    expect(err.field).toBe(field);
  });

  it('allow a leading "-" where the template says {name:any}, and after a literal prefix', () => {
    expect(refusal(named('shift', { from: '-5' }), opts)).toBeUndefined();
    expect(refusal(named('resize', { input: 'i', size: '1', output: '-o' }), opts)).toBeUndefined();
  });

  it('refuse an unknown command, an argument the template lacks, a missing value, and argv beside a name', () => {
    expect(refusal(named('rm', {}), opts)!.field).toBe('task.executor.command.name');
    expect(refusal(named('resize', { input: 'i', size: '1', output: 'o', extra: 'x' }), opts)!.field).toBe('task.executor.command.args');
    expect(refusal(named('resize', { input: 'i' }), opts)!.field).toBe('task.executor.command.args.size');
    const both: TaskSubmission = {
      taskClass: 'cpu_short',
      payload: { a: '1' },
      executor: { kind: 'command', argv: ['sh'], env: {}, cwd: '', name: 'resize', args: {} },
    };
    expect(refusal(both, opts)!.field).toBe('task.executor.command');
  });

  it('are the only commands a class without raw commands runs', () => {
    const err = refusal({ taskClass: 'cpu_short', payload: { a: '1' }, executor: { kind: 'command', argv: ['convert', 'x'], env: {}, cwd: '' } }, opts)!;
    expect(err.code).toBe('permission_denied');
    expect(err.message).toContain('classes.cpu_short.policy.command.raw');
  });

  it('can be limited per class', () => {
    const limited = setup({
      executors: { command: { commands: { a: { argv: ['true'] }, b: { argv: ['false'] } } } },
      classes: { cpu_short: { policy: { executors: ['command'], command: { names: ['a'] } } } },
    });
    const t = (name: string): TaskSubmission => ({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      executor: { kind: 'command', argv: [], env: {}, cwd: '', name, args: {} },
    });
    expect(refusal(t('a'), limited)).toBeUndefined();
    expect(refusal(t('b'), limited)!.message).toContain('classes.cpu_short.policy.command.names');
  });

  it('are checked when the config is loaded', () => {
    expect(() => parseCommandTemplate({ argv: ['{prog}', 'x'] })).toThrow(/program/);
    expect(() => setup({ executors: { command: { commands: { bad: { argv: ['echo', '{a'] } } } } })).toThrow(ConfigError);
    expect(() => setup({ executors: { command: { commands: { bad: { argv: ['{a}'] } } } } })).toThrow(/executors\.command\.commands\.bad\.argv/);
    expect(() => setup({ classes: { cpu_short: { policy: { command: { names: ['nope'] } } } } })).toThrow(/classes\.cpu_short\.policy\.command\.names/);
  });
});

describe('container ceilings and user', () => {
  const opts = setup({
    classes: {
      gpu: {
        policy: {
          executors: ['container'],
          container: { images: ['registry.local/tools/*'], maxMemoryBytes: 512 << 20, maxCpuMillis: 2000, maxPidsLimit: 100, maxTimeoutMs: 60_000 },
        },
      },
    },
  });
  const task = (c: Partial<Extract<ExecutorSpec, { kind: 'container' }>>, timeoutMs = 30_000): TaskSubmission => ({
    taskClass: 'gpu',
    payload: { a: '1' },
    timeoutMs,
    executor: container(c),
  });

  it('accept an allowed image within the ceilings', () => {
    expect(refusal(task({ memoryBytes: 512 << 20, cpuMillis: 2000, pidsLimit: 100 }), opts)).toBeUndefined();
  });

  it.each<[string, Partial<Extract<ExecutorSpec, { kind: 'container' }>>, number, string, string]>([
    ['an image not allowed', { image: 'registry.local/other/x:1' }, 30_000, 'task.executor.container.image', 'policy.container.images'],
    ['memory over the ceiling', { memoryBytes: (512 << 20) + 1 }, 30_000, 'task.executor.container.memory_bytes', 'maxMemoryBytes'],
    ['CPUs over the ceiling', { cpuMillis: 2001 }, 30_000, 'task.executor.container.cpu_millis', 'maxCpuMillis'],
    ['pids over the ceiling', { pidsLimit: 101 }, 30_000, 'task.executor.container.pids_limit', 'maxPidsLimit'],
    ['a timeout over the ceiling', {}, 60_001, 'task.timeout_ms', 'maxTimeoutMs'],
    ['root', { user: 'root' }, 30_000, 'task.executor.container.user', 'allowRootUser'],
    ['uid 0', { user: '0:0' }, 30_000, 'task.executor.container.user', 'allowRootUser'],
  ])('refuse %s, not clamp it', (_what, c, timeoutMs, field, rule) => {
    const err = refusal(task(c, timeoutMs), opts)!;
    expect(err.code).toBe('permission_denied');
    expect(err.field).toBe(field);
    expect(err.message).toContain(rule);
  });

  it('refuse a class default user that is root unless meant', () => {
    expect(() => setup({ classes: { gpu: { policy: { container: { user: '0' } } } } })).toThrow(/allowRootUser/);
    expect(() => setup({ classes: { gpu: { policy: { container: { user: '0', allowRootUser: true } } } } })).not.toThrow();
  });
});
