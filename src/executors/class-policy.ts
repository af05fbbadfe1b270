import type { ExecutorKind } from './executor-kind.js';

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
  runner: {
    /**
     * Task runners (executors.runner.runners) the class's runner tasks may go to; a task that
     * names none goes to any of them that serves its task name. @default [] (none)
     */
    runners: readonly string[];
    /** Task names the class's runner tasks may ask for; unset: any a runner serves. @default unset */
    tasks?: readonly string[];
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
  runner: { runners: [] },
  slurm: { raw: false, partitions: [], accounts: [] },
};
