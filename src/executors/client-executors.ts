/**
 * The client's side of each executor kind: its input shape (ExecutorInput, `{ handler: "echo" }`,
 * `{ command: {...} }`, ...) and its proto message, both ways. Imports nothing of the server or
 * the pool (only the generated types and the kinds' list), so a client loads no server code.
 * The table is keyed by kind: a kind added to EXECUTOR_KINDS is a compile error here until it
 * has an input shape and a mapping.
 */
import type * as pb from '../gen/orchestrator/v1/orchestrator.js';
import { EXECUTOR_KINDS, isExecutorKind, type ExecutorKind } from './executor-kind.js';
import type { PbExecutorOf } from './executor-module.js';

/** Each kind's input shape, keyed by kind. */
export interface ExecutorInputs {
  /** The name of a handler of the pools' handlers directory. */
  handler: string;
  /**
   * A named command of the pools' config (`name`, with `args` for its placeholders), or a raw
   * `argv` where the class's policy allows raw commands.
   */
  command: { name?: string; args?: Record<string, string>; argv?: string[]; env?: Record<string, string>; cwd?: string };
  /** POST (default), PUT or PATCH the task as JSON to `url`; the response body is the result. */
  http: { url: string; method?: string; headers?: Record<string, string> };
  /** Run `image` as a locked-down Docker container; unset limits take the pool's defaults. */
  container: {
    image: string;
    command?: string[];
    env?: Record<string, string>;
    workingDir?: string;
    cpuMillis?: number;
    memoryBytes?: number;
    pidsLimit?: number;
    user?: string;
    network?: boolean;
    /** Host directories bound in (read-only unless writable); each under executors.container.allowedMounts. */
    mounts?: { hostPath: string; containerPath: string; writable?: boolean }[];
  };
  /** Submit a Slurm batch job (a named script, a raw `script` or a raw `command`: one of them) and wait for it to end. */
  slurm: {
    /** A named script of the pools' config (executors.slurm.scripts). */
    name?: string;
    /** Values of the named script's placeholders. */
    args?: Record<string, string>;
    /** Slurm account; one of the class's policy slurm.accounts. */
    account?: string;
    script?: string;
    command?: string[];
    partition?: string;
    /** Generic resources, e.g. "gpu:1". */
    gres?: string;
    cpus?: number;
    memoryMb?: number;
    timeLimitMinutes?: number;
    env?: Record<string, string>;
  };
  /**
   * Hand the task to a task runner (any language, orchestrator.runner.v1.TaskRunner) that
   * serves `task`: one named by `runner` (executors.runner.runners), or any of the class's.
   */
  runner: { task: string; runner?: string };
}

/** How a task runs: exactly one executor, named by its kind (`{ handler: "echo" }`). */
export type ExecutorInput = { [K in ExecutorKind]: { [P in K]: ExecutorInputs[K] } }[ExecutorKind];

interface ClientExecutor<K extends ExecutorKind> {
  /** The input into the proto message, unset fields given their proto defaults. */
  toPb(input: ExecutorInputs[K]): PbExecutorOf<K>;
  /** The proto message back into the input shape (orchctl's read-modify-write of a schedule). */
  fromPb(value: PbExecutorOf<K>): ExecutorInputs[K];
}

export const CLIENT_EXECUTORS = {
  handler: { toPb: (name) => ({ name }), fromPb: (v) => v.name },
  command: {
    toPb: (c) => ({ name: c.name ?? '', args: c.args ?? {}, argv: c.argv ?? [], env: c.env ?? {}, cwd: c.cwd ?? '' }),
    fromPb: (v) => v,
  },
  http: { toPb: (h) => ({ url: h.url, method: h.method ?? '', headers: h.headers ?? {} }), fromPb: (v) => v },
  container: {
    toPb: (c) => ({
      image: c.image,
      command: c.command ?? [],
      env: c.env ?? {},
      workingDir: c.workingDir ?? '',
      cpuMillis: c.cpuMillis ?? 0,
      memoryBytes: c.memoryBytes ?? 0,
      pidsLimit: c.pidsLimit ?? 0,
      user: c.user ?? '',
      network: c.network ?? false,
      mounts: (c.mounts ?? []).map((m) => ({ hostPath: m.hostPath, containerPath: m.containerPath, writable: m.writable ?? false })),
    }),
    fromPb: (v) => v,
  },
  slurm: {
    toPb: (s) => ({
      name: s.name ?? '',
      args: s.args ?? {},
      account: s.account ?? '',
      script: s.script ?? '',
      command: s.command ?? [],
      partition: s.partition ?? '',
      gres: s.gres ?? '',
      cpus: s.cpus ?? 0,
      memoryMb: s.memoryMb ?? 0,
      timeLimitMinutes: s.timeLimitMinutes ?? 0,
      env: s.env ?? {},
    }),
    fromPb: (v) => v,
  },
  runner: { toPb: (r) => ({ task: r.task, runner: r.runner ?? '' }), fromPb: (v) => ({ task: v.task, ...(v.runner ? { runner: v.runner } : {}) }) },
} as const satisfies { readonly [K in ExecutorKind]: ClientExecutor<K> };

/** The one widening of the table: TypeScript cannot tie a kind's module to a value of that kind. */
const moduleOf = (kind: ExecutorKind) => CLIENT_EXECUTORS[kind] as unknown as ClientExecutor<ExecutorKind>;

/** The input's executor as the proto message; TypeError for an input naming no kind this client knows. */
export function executorInputToPb(e: ExecutorInput): pb.ExecutorSpec {
  const kind = EXECUTOR_KINDS.find((k) => Object.hasOwn(e, k));
  if (kind === undefined) throw new TypeError(`executor: expected one of ${EXECUTOR_KINDS.join(', ')}`);
  const value = moduleOf(kind).toPb((e as Record<string, unknown>)[kind] as never);
  return { kind: { $case: kind, value } as pb.ExecutorSpec['kind'] };
}

/** The proto message as the input shape; undefined when it sets no executor or one this client does not know. */
export function executorInputFromPb(e: pb.ExecutorSpec | undefined): ExecutorInput | undefined {
  const k = e?.kind;
  if (k === undefined || !isExecutorKind(k.$case)) return undefined;
  return { [k.$case]: moduleOf(k.$case).fromPb(k.value as never) } as ExecutorInput;
}
