/**
 * Task classes: the one place a class is defined. Each class is one BullMQ queue with its own
 * defaults; config (`[classes.NAME]` in the TOML file) overrides a default class field by field
 * or adds new classes.
 */
export type BackoffKind = 'fixed' | 'exponential';

/** The executor kinds a task can name (src/tasks/task-spec.ts ExecutorSpec). */
import type { ExecutorKind } from '../src/executors/executor-kind.js';

// The kinds are listed in src/executors/executor-kind.ts; re-exported for the classes' older import path.
export { EXECUTOR_KINDS, type ExecutorKind } from '../src/executors/executor-kind.js';

/**
 * What tasks of a class may run: checked when a task is submitted (PERMISSION_DENIED naming the
 * rule) and again by the pool, against its own config, before anything runs (src/tasks/task-spec.ts,
 * workers/job-admission.ts). Everything beyond handler tasks is an operator's explicit choice.
 */
export interface ClassPolicy {
  /** Executor kinds the class accepts. @default ["handler"] (gpu_slurm: ["handler", "slurm"]) */
  executors: readonly ExecutorKind[];
  command: {
    /** Named commands (executors.command.commands) tasks may use; unset: every one defined. @default unset */
    names?: readonly string[];
    /** Whether a task may give its own argv (and cwd). @default false */
    raw: boolean;
    /**
     * User (name, uid or uid:gid) command tasks run as. On a pool running as root, raw command
     * tasks are refused unless this names another user. @default "" (the pool's user)
     */
    runAs: string;
  };
  /**
   * Variables of the pool's environment that command tasks and Slurm jobs get besides the
   * minimal base (PATH, LANG, LC_ALL, TZ, TMPDIR, HOME). @default []
   */
  envPassthrough: readonly string[];
  container: {
    /** Images tasks may run: exact references, or patterns where `*` matches any run of characters. @default [] (none) */
    images: readonly string[];
    /** Most memory a task may ask for, in bytes. @default 8 GiB */
    maxMemoryBytes: number;
    /** Most CPU a task may ask for, in thousandths of a CPU. @default 4000 */
    maxCpuMillis: number;
    /** Most processes a task may ask for. @default 4096 */
    maxPidsLimit: number;
    /** Longest per-attempt timeout of a container task. @default 6 hours */
    maxTimeoutMs: number;
    /** User a container runs as when the task names none (never the image's). @default "65534:65534" (nobody) */
    user: string;
    /** Whether a task may ask to run as root (user "root", "0" or "0:<gid>"). @default false */
    allowRootUser: boolean;
  };
  slurm: {
    /** Named scripts (executors.slurm.scripts) tasks may use; unset: every one defined. @default unset */
    names?: readonly string[];
    /** Whether a task may give its own batch script or command. @default false */
    raw: boolean;
    /** Partitions a task may name; [] allows only the default partition. @default [] */
    partitions: readonly string[];
    /** Accounts a task may name; [] allows only the user's default account. @default [] */
    accounts: readonly string[];
  };
}

export const DEFAULT_CLASS_POLICY: ClassPolicy = {
  executors: ['handler'],
  command: { raw: false, runAs: '' },
  envPassthrough: [],
  container: {
    images: [],
    maxMemoryBytes: 8 * 2 ** 30,
    maxCpuMillis: 4000,
    maxPidsLimit: 4096,
    maxTimeoutMs: 6 * 3_600_000,
    user: '65534:65534',
    allowRootUser: false,
  },
  slurm: { raw: false, partitions: [], accounts: [] },
};

/** Policy overrides as config gives them: each section field by field. */
export interface ClassPolicyOverrides {
  executors?: readonly ExecutorKind[];
  envPassthrough?: readonly string[];
  command?: Partial<ClassPolicy['command']>;
  container?: Partial<ClassPolicy['container']>;
  slurm?: Partial<ClassPolicy['slurm']>;
}

function mergePolicy(base: ClassPolicy, o: ClassPolicyOverrides | undefined): ClassPolicy {
  if (!o) return base;
  return {
    executors: o.executors ?? base.executors,
    envPassthrough: o.envPassthrough ?? base.envPassthrough,
    command: { ...base.command, ...o.command },
    container: { ...base.container, ...o.container },
    slurm: { ...base.slurm, ...o.slurm },
  };
}

export interface TaskClassOptions {
  /** Queue and class name: [a-z0-9_]+. */
  name: string;
  /** Tasks one pool runs at once for this class. @default 8 */
  concurrency: number;
  /** Attempts per task unless the task sets its own. @default 3 */
  attempts: number;
  /** Retry backoff unless the task sets its own. @default exponential, 1000 ms */
  backoff: { type: BackoffKind; delayMs: number };
  /** Per-attempt time limit unless the task sets its own. @default 60000 */
  timeoutMs: number;
  /** Lock a running task holds; a pool that stops renewing it loses the task. @default 30000 */
  lockDurationMs: number;
  /** How often pools look for tasks whose pool died. @default 30000 */
  stalledIntervalMs: number;
  /** Times a task may be recovered from a dead pool before it fails. @default 1 */
  maxStalledCount: number;
  /**
   * Run handler tasks inside the pool process instead of a sandbox. Faster; a handler that
   * crashes or blocks the event loop takes the pool down with it. Only for trusted handlers.
   * @default false
   */
  inProcessHandlers: boolean;
  /**
   * One GPU per task: a pool runs at most one task per GPU it has (its concurrency for the
   * class is its GPU count) and hands each task its device (workers/gpu-slots.ts).
   * @default false (true for "gpu")
   */
  usesGpu: boolean;
  /** Completed tasks kept in Redis (newest first). @default {count: 10000, ageMs: 86400000} */
  keepCompleted: { count: number; ageMs: number };
  /** Failed tasks kept in Redis (the dead letters). @default {count: 50000, ageMs: 604800000} */
  keepFailed: { count: number; ageMs: number };
  /**
   * Largest result one attempt may store, in bytes of its JSON (a handler's return value, a
   * command's or container's output tail, an http body, a Slurm job's output). Above it the
   * attempt fails with `result_too_large`, not retried, and only a short error is stored: a
   * result is copied whole into Redis, the results stream and every message that carries it.
   * @default 1048576 (1 MiB)
   */
  maxResultBytes: number;
  /** What the class's tasks may run (config `[classes.NAME.policy]`). */
  policy: ClassPolicy;
}

const base: Omit<TaskClassOptions, 'name'> = {
  concurrency: 8,
  attempts: 3,
  backoff: { type: 'exponential', delayMs: 1_000 },
  timeoutMs: 60_000,
  lockDurationMs: 30_000,
  stalledIntervalMs: 30_000,
  maxStalledCount: 1,
  inProcessHandlers: false,
  usesGpu: false,
  keepCompleted: { count: 10_000, ageMs: 24 * 3_600_000 },
  keepFailed: { count: 50_000, ageMs: 7 * 24 * 3_600_000 },
  maxResultBytes: 1 << 20,
  policy: DEFAULT_CLASS_POLICY,
};

/** The four classes every installation has (DESIGN.md section 4). */
export const DEFAULT_TASK_CLASSES: readonly TaskClassOptions[] = Object.freeze([
  { ...base, name: 'cpu_short', concurrency: 16, timeoutMs: 60_000 },
  { ...base, name: 'cpu_long', concurrency: 2, timeoutMs: 6 * 3_600_000, lockDurationMs: 120_000, stalledIntervalMs: 60_000 },
  { ...base, name: 'gpu', usesGpu: true, concurrency: 1, timeoutMs: 6 * 3_600_000, lockDurationMs: 120_000, stalledIntervalMs: 60_000 },
  {
    ...base,
    name: 'gpu_slurm',
    policy: { ...DEFAULT_CLASS_POLICY, executors: ['handler', 'slurm'] },
    concurrency: 32,
    timeoutMs: 24 * 3_600_000,
    lockDurationMs: 120_000,
    stalledIntervalMs: 60_000,
  },
]);

export type TaskClassOverrides = Partial<Omit<TaskClassOptions, 'name' | 'policy'>> & { policy?: ClassPolicyOverrides };

/** Merge config overrides onto the defaults; a name not among the defaults adds a class. */
export function resolveTaskClasses(overrides: Record<string, TaskClassOverrides>): ReadonlyMap<string, TaskClassOptions> {
  const classes = new Map<string, TaskClassOptions>();
  for (const c of DEFAULT_TASK_CLASSES) classes.set(c.name, c);
  for (const [name, o] of Object.entries(overrides)) {
    const prev = classes.get(name) ?? { ...base, name };
    classes.set(name, { ...prev, ...o, name, policy: mergePolicy(prev.policy, o.policy) });
  }
  for (const c of classes.values()) Object.freeze(c);
  return classes;
}
