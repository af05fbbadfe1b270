/**
 * What a task's executor spec holds, one shape per kind, as the front end validates it and as
 * a BullMQ job carries it (job data field `executor`). Job data outlives a deploy: add fields,
 * never rename or remove one.
 */
import type { ExecutorKind } from './executor-kind.js';

export type ExecutorSpec = HandlerExecutorSpec | CommandExecutorSpec | HttpExecutorSpec | ContainerExecutorSpec | SlurmExecutorSpec | RunnerExecutorSpec;

/**
 * Run a subprocess: a named command of the pool's config (`name`, `args`; argv empty), or a
 * raw argv where the class's policy allows it.
 */
export interface CommandExecutorSpec {
  kind: 'command';
  /** Raw program and arguments; empty for a named command. */
  argv: string[];
  env: Record<string, string>;
  /** Raw commands only; '' for the pool's. */
  cwd: string;
  /** A named command (executors.command.commands); absent for a raw one. */
  name?: string;
  /** Values of the named command's placeholders. */
  args?: Record<string, string>;
}

/** POST (or PUT, PATCH) the task as JSON to `url`; the response body is the result. */
export interface HttpExecutorSpec {
  kind: 'http';
  /** Normalised at submission (see executor-policy.ts). */
  url: string;
  /** POST, PUT or PATCH; '' on input means POST. */
  method: string;
  headers: Record<string, string>;
}

/**
 * Hand the task to a task runner (proto/orchestrator/runner/v1/runner.proto) of the pool's
 * config (workers/executors/runner.ts).
 */
export interface RunnerExecutorSpec {
  kind: 'runner';
  /** A task name the runner serves. */
  task: string;
  /** One of executors.runner.runners; '' for any of the class's that serves `task`. */
  runner: string;
}

/** Run `image` as a locked-down Docker container (workers/executors/container.ts). */
export interface ContainerExecutorSpec {
  kind: 'container';
  image: string;
  /** Empty: the image's default command. */
  command: string[];
  env: Record<string, string>;
  /** '' for the image's. */
  workingDir: string;
  /** Thousandths of a CPU; 0 for the pool default. */
  cpuMillis: number;
  /** 0 for the pool default. */
  memoryBytes: number;
  /** 0 for the pool default. */
  pidsLimit: number;
  /** '' for the image's. */
  user: string;
  network: boolean;
  /** Host directories bound in; each must lie under executors.container.allowedMounts. */
  mounts: ContainerMountSpec[];
}

/** Submit a batch job to Slurm and track it (workers/executors/slurm.ts). Exactly one of name, script and command. */
export interface SlurmExecutorSpec {
  kind: 'slurm';
  /** A named script (executors.slurm.scripts); absent for a raw script or command. */
  name?: string;
  /** Values of the named script's placeholders. */
  args?: Record<string, string>;
  /** Slurm account; absent or '' for the user's default. */
  account?: string;
  /** A batch script starting with "#!"; '' when `command` is given. */
  script: string;
  /** Program and arguments run by a generated script; empty when `script` is given. */
  command: string[];
  /** '' for executors.slurm.defaultPartition (or Slurm's default). */
  partition: string;
  /** Generic resources, e.g. "gpu:1"; '' for none. */
  gres: string;
  /** 0 for Slurm's default. */
  cpus: number;
  /** 0 for Slurm's default. */
  memoryMb: number;
  /** 0 for the partition's limit. */
  timeLimitMinutes: number;
  env: Record<string, string>;
}

export interface ContainerMountSpec {
  /** Absolute, normalised at submission. */
  hostPath: string;
  /** Absolute, normalised at submission. */
  containerPath: string;
  /** Read-only unless true. */
  writable: boolean;
}

/** The spec of one kind. */
export type ExecutorSpecOf<K extends ExecutorKind> = Extract<ExecutorSpec, { kind: K }>;

/** Run a handler of the pool's handlers directory (workers/executors/handler.ts). */
export interface HandlerExecutorSpec {
  kind: 'handler';
  name: string;
}
