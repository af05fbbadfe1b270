/**
 * Task classes: the one place a class is defined. Each class is one BullMQ queue with its own
 * defaults; config (`[classes.NAME]` in the TOML file) overrides a default class field by field
 * or adds new classes.
 */
export type BackoffKind = 'fixed' | 'exponential';

import type { ExecutorKind } from '../src/executors/executor-kind.js';
import { DEFAULT_CLASS_POLICY, type ClassPolicy } from '../src/executors/class-policy.js';

// The kinds and the class policy are the executors' (src/executors/); re-exported for the
// classes' older import path. The executors never import this file: the dependency goes one way.
export { EXECUTOR_KINDS, type ExecutorKind } from '../src/executors/executor-kind.js';
export { DEFAULT_CLASS_POLICY, type ClassPolicy } from '../src/executors/class-policy.js';

/** Policy overrides as config gives them: each section field by field. */
export interface ClassPolicyOverrides {
  executors?: readonly ExecutorKind[];
  envPassthrough?: readonly string[];
  command?: Partial<ClassPolicy['command']>;
  container?: Partial<ClassPolicy['container']>;
  slurm?: Partial<ClassPolicy['slurm']>;
  runner?: Partial<ClassPolicy['runner']>;
}

function mergePolicy(base: ClassPolicy, o: ClassPolicyOverrides | undefined): ClassPolicy {
  if (!o) return base;
  return {
    executors: o.executors ?? base.executors,
    envPassthrough: o.envPassthrough ?? base.envPassthrough,
    command: { ...base.command, ...o.command },
    container: { ...base.container, ...o.container },
    slurm: { ...base.slurm, ...o.slurm },
    runner: { ...base.runner, ...o.runner },
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
  /**
   * On a Redis Cluster, how many partitions the class's keys are split into, each with a hash tag
   * of its own (so on a slot, and maybe a shard, of its own): one BullMQ queue per partition, a
   * task placed by a hash of its id, every pool serving the class serving every partition
   * (src/store/keys.ts). For a class too busy for one shard. No effect on a single Redis. 1..64.
   * Changing it moves where ids are looked for: change it only with the class drained.
   * @default 1
   */
  partitions: number;
}

/** Most partitions a class may have (`classes.<name>.partitions`). */
export const MAX_PARTITIONS = 64;

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
  partitions: 1,
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
