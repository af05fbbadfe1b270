/**
 * The executor registry: every table keyed by kind covers exactly the kinds, each module is the
 * one for its key, and a kind the build does not know is refused rather than run as another.
 *
 * The fixture below declares a fake kind, "fake", and hands each kind-keyed site a table for
 * the kinds plus "fake": every `@ts-expect-error` marks a site the compiler would stop at if
 * "fake" were added to EXECUTOR_KINDS (tsc runs on the tests in `npm run lint`, and an
 * expect-error that no longer errors fails it). The list is the README's "Adding an executor
 * kind", checked.
 */
import { describe, expect, it } from 'vitest';
import type { Config } from '../src/config/config.js';
import { CLIENT_EXECUTORS, executorInputFromPb, executorInputToPb, type ExecutorInput, type ExecutorInputs } from '../src/executors/client-executors.js';
import { EXECUTOR_KINDS, isExecutorKind, type ExecutorKind } from '../src/executors/executor-kind.js';
import type { ExecutorSpec } from '../src/executors/executor-spec.js';
import { EXECUTORS, executorFromPb, executorToPb, mapTemplatedExecutor, type ExecutorTable } from '../src/executors/registry.js';
import { OrchestratorError } from '../src/errors/errors.js';
import { EXECUTOR_READERS } from '../src/cli/input-files.js';
import { POOL_EXECUTORS } from '../workers/executors/pool-executors.js';
import { JOB_EXECUTOR_READERS } from '../workers/job-admission.js';

// ---- fixture: a fake kind --------------------------------------------------------------------
type WithFake = ExecutorKind | 'fake';
/** Accepts a table only when it has an entry for every kind and for "fake". */
const requiresFake = (table: Record<WithFake, unknown>): unknown => table;
/** Accepts a table when it has an entry for every kind. */
const requiresKinds = (table: Record<ExecutorKind, unknown>): unknown => table;
declare const configSections: Config['executors'];
declare const inputs: ExecutorInputs;

/** Each site keyed by kind, with where it lives; the compile-time checks below name the same list. */
const SITES = {
  'front end: spec, checks, proto mapping, templated fields (src/executors/registry.ts)': EXECUTORS,
  'client: input shape and proto mapping (src/executors/client-executors.ts)': CLIENT_EXECUTORS,
  'pool: executor factory (workers/executors/pool-executors.ts)': POOL_EXECUTORS,
  'orchctl: --file reader (src/cli/input-files.ts)': EXECUTOR_READERS,
  'pool: job data reader (workers/job-admission.ts)': JOB_EXECUTOR_READERS,
};

function compileTimeSites(): void {
  // Every site has every kind today...
  requiresKinds(EXECUTORS);
  requiresKinds(CLIENT_EXECUTORS);
  requiresKinds(POOL_EXECUTORS);
  requiresKinds(JOB_EXECUTOR_READERS);
  requiresKinds(configSections);
  requiresKinds(inputs);
  requiresKinds(EXECUTOR_READERS);
  // ...and each would stop the build for a new one.
  // @ts-expect-error the front end's module (src/executors/<kind>.ts) in EXECUTORS
  requiresFake(EXECUTORS);
  // @ts-expect-error the client's input shape and mapping (CLIENT_EXECUTORS)
  requiresFake(CLIENT_EXECUTORS);
  // @ts-expect-error the client's input type (ExecutorInputs)
  requiresFake(inputs);
  // @ts-expect-error the pool's executor factory (POOL_EXECUTORS)
  requiresFake(POOL_EXECUTORS);
  // @ts-expect-error the pool's reader of job data (JOB_EXECUTOR_READERS)
  requiresFake(JOB_EXECUTOR_READERS);
  // @ts-expect-error orchctl's reader of --file executors (src/cli/input-files.ts)
  requiresFake(EXECUTOR_READERS);
  // @ts-expect-error the config's executors.<kind> section (src/config/config.ts)
  requiresFake(configSections);
  // The table type itself: a module for "fake" is required once the kind exists.
  const table: ExecutorTable = EXECUTORS;
  // @ts-expect-error no kind but the known ones has a module
  void table.fake;
}
void compileTimeSites;

describe('executor registry', () => {
  it('has one entry per kind in every table, each module being its key', () => {
    for (const [site, table] of Object.entries(SITES)) {
      expect(Object.keys(table).sort(), site).toEqual([...EXECUTOR_KINDS].sort());
    }
    for (const kind of EXECUTOR_KINDS) expect(EXECUTORS[kind].kind).toBe(kind);
  });

  const samples: ExecutorSpec[] = [
    { kind: 'handler', name: 'echo' },
    { kind: 'command', argv: ['echo', '${inputs.x}'], env: { A: '${run_id}' }, cwd: '', name: 'n', args: { k: '${inputs.k}' } },
    { kind: 'http', url: 'http://127.0.0.1:1/${inputs.x}', method: 'POST', headers: { h: '${inputs.x}' } },
    {
      kind: 'container',
      image: 'busybox',
      command: ['${inputs.x}'],
      env: { E: '${inputs.x}' },
      workingDir: '',
      cpuMillis: 0,
      memoryBytes: 0,
      pidsLimit: 0,
      user: '',
      network: false,
      mounts: [{ hostPath: '/srv', containerPath: '/data', writable: false }],
    },
    {
      kind: 'slurm',
      name: '',
      args: {},
      account: '',
      script: '#!/bin/sh\necho ${inputs.x}',
      command: [],
      partition: '',
      gres: '',
      cpus: 0,
      memoryMb: 0,
      timeLimitMinutes: 0,
      env: { S: '${inputs.x}' },
    },
    { kind: 'runner', task: 'resize', runner: 'py' },
  ];

  it('maps each kind to its proto message and back unchanged', () => {
    expect(samples.map((s) => s.kind).sort()).toEqual([...EXECUTOR_KINDS].sort());
    for (const spec of samples) {
      const pb = executorToPb(spec);
      expect(pb.kind?.$case).toBe(spec.kind);
      expect(executorFromPb(pb, 'task.executor')).toEqual(spec);
    }
    expect(executorFromPb(undefined, 'task.executor')).toBeUndefined();
    expect(executorFromPb({ kind: undefined }, 'task.executor')).toBeUndefined();
  });

  it('refuses a kind this build does not know, naming the field, instead of reading it as another kind', () => {
    const unknown = { kind: { $case: 'fake', value: { name: 'x' } } } as never;
    let err: unknown;
    try {
      executorFromPb(unknown, 'task.executor');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OrchestratorError);
    expect((err as OrchestratorError).code).toBe('invalid_argument');
    expect((err as OrchestratorError).field).toBe('task.executor');
    // A stored spec (a schedule's task) of a kind this build does not know: named, not dropped.
    expect(() => executorToPb({ kind: 'fake' } as unknown as ExecutorSpec)).toThrow(/executor kind "fake" is not one this build knows/);
    expect(isExecutorKind('fake')).toBe(false);
    expect(isExecutorKind('__proto__')).toBe(false);
    // The client: an input naming no kind is an error, not a container task.
    expect(() => executorInputToPb({ fake: { image: 'busybox' } } as unknown as ExecutorInput)).toThrow(/expected one of handler, command/);
    expect(executorInputFromPb(unknown)).toBeUndefined();
  });

  it('templates exactly the strings the README lists per kind', () => {
    const fields = (spec: ExecutorSpec) => {
      const seen: string[] = [];
      mapTemplatedExecutor(spec, (f, v) => {
        seen.push(f);
        return v;
      });
      return seen;
    };
    const byKind = Object.fromEntries(samples.map((s) => [s.kind, fields(s)]));
    expect(byKind).toEqual({
      handler: [],
      command: ['executor.command.argv[0]', 'executor.command.argv[1]', 'executor.command.env.A', 'executor.command.args.k'],
      http: [],
      container: ['executor.container.command[0]', 'executor.container.env.E'],
      slurm: ['executor.slurm.script', 'executor.slurm.env.S'],
      runner: [],
    });
  });

  it('maps every client input kind to the proto and back', () => {
    const input: ExecutorInput[] = [
      { handler: 'echo' },
      { command: { name: 'uname', args: {}, argv: [], env: {}, cwd: '' } },
      { http: { url: 'http://127.0.0.1:1/', method: 'POST', headers: {} } },
      {
        slurm: {
          name: '',
          args: {},
          account: '',
          script: '#!/bin/sh',
          command: [],
          partition: '',
          gres: '',
          cpus: 0,
          memoryMb: 0,
          timeLimitMinutes: 0,
          env: {},
        },
      },
      { runner: { task: 'resize', runner: 'py' } },
      { runner: { task: 'resize' } },
    ];
    for (const e of input) expect(executorInputFromPb(executorInputToPb(e))).toEqual(e);
    const container = executorInputToPb({ container: { image: 'busybox' } });
    expect(container.kind).toEqual({
      $case: 'container',
      value: { image: 'busybox', command: [], env: {}, workingDir: '', cpuMillis: 0, memoryBytes: 0, pidsLimit: 0, user: '', network: false, mounts: [] },
    });
  });
});
