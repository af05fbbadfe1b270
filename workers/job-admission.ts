/**
 * The pool's own check of a job before anything runs. A job's data is not trusted: it may have
 * been written into Redis directly, added or edited through Bull Board, or queued by an older
 * front end under another policy. So the pool parses it again (every field's type, every number
 * it applies), runs the same executor check the front end ran (src/tasks/task-spec.ts
 * checkExecutor) against its OWN config, and applies the checks only a pool can make (a raw
 * command on a pool running as root). A job that fails ends failed with a `policy_denied`
 * error, never retried, and nothing of it runs.
 *
 * Named commands and scripts are resolved here, from the pool's config: the job carries only a
 * name and values, so what runs is always what the pool's operator defined. So are the class's
 * defaults a job does not carry: a task submitted without a timeout runs with this pool's
 * class timeout, and a handler task's executor is its job name (src/store/codecs/job-data.ts).
 */
import type { TaskClassOptions } from '../queues/task-classes.js';
import { isExecutorKind, type ExecutorKind } from '../src/executors/executor-kind.js';
import type { ExecutorSpecOf } from '../src/executors/executor-spec.js';
import { fillCommandTemplate } from '../src/executors/command-template.js';
import { OrchestratorError, TaskError } from '../src/errors/errors.js';
import type { ExecutorPolicy } from '../src/executors/executor-policy.js';
import { checkExecutor, containerLimit, MAX_TIMEOUT_MS, type ContainerMountSpec, type ExecutorSpec, type TaskJobData } from '../src/tasks/task-spec.js';
import { jobExecutor } from '../src/store/codecs/job-data.js';
import { poolUid, type RunAsUser } from './run-as.js';

/** What the pool runs: the job's task as checked, named commands resolved to their argv. */
export interface AdmittedTask {
  executor: ExecutorSpec;
  payload: Record<string, string>;
  timeoutMs: number;
}

export interface JobAdmissionOptions {
  policy: ExecutorPolicy;
  classes: ReadonlyMap<string, TaskClassOptions>;
  /** The user each served class's command tasks run as, where one is configured. */
  runAs: ReadonlyMap<string, RunAsUser>;
  /** @default the pool process's uid */
  uid?: number;
}

/** A job whose data is not what a task's is; reported as policy_denied. */
class BadJob extends Error {}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(v: unknown, field: string): string {
  if (typeof v !== 'string') throw new BadJob(`${field} is not a string`);
  return v;
}
function optStr(v: unknown, field: string): string | undefined {
  return v === undefined ? undefined : str(v, field);
}
function strArray(v: unknown, field: string): string[] {
  if (!Array.isArray(v)) throw new BadJob(`${field} is not a list`);
  return v.map((x, i) => str(x, `${field}[${i}]`));
}
function strRecord(v: unknown, field: string): Record<string, string> {
  if (!isRecord(v)) throw new BadJob(`${field} is not a map`);
  for (const [k, x] of Object.entries(v)) str(x, `${field}.${k}`);
  return v as Record<string, string>;
}
function optStrRecord(v: unknown, field: string): Record<string, string> | undefined {
  return v === undefined ? undefined : strRecord(v, field);
}
/** A whole number from 0 up: the executor checks then apply each field's own range. */
function count(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new BadJob(`${field} is not a whole number from 0`);
  return v;
}
function bool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') throw new BadJob(`${field} is not true or false`);
  return v;
}

/**
 * Each kind's reader of a job's executor spec, keyed by kind, so that a kind added to
 * EXECUTOR_KINDS is a compile error here until the pool can read its jobs.
 */
export const JOB_EXECUTOR_READERS = {
  handler: (v, f) => ({ kind: 'handler', name: str(v.name, `${f}.name`) }),
  command: (v, f) => {
    const name = optStr(v.name, `${f}.name`);
    const args = optStrRecord(v.args, `${f}.args`);
    return {
      kind: 'command',
      argv: strArray(v.argv ?? [], `${f}.argv`),
      env: strRecord(v.env ?? {}, `${f}.env`),
      cwd: str(v.cwd ?? '', `${f}.cwd`),
      ...(name !== undefined ? { name } : {}),
      ...(args !== undefined ? { args } : {}),
    };
  },
  http: (v, f) => ({ kind: 'http', url: str(v.url, `${f}.url`), method: str(v.method, `${f}.method`), headers: strRecord(v.headers ?? {}, `${f}.headers`) }),
  container: (v, f) => {
    if (!Array.isArray(v.mounts ?? [])) throw new BadJob(`${f}.mounts is not a list`);
    const mounts = ((v.mounts ?? []) as unknown[]).map((m, i): ContainerMountSpec => {
      if (!isRecord(m)) throw new BadJob(`${f}.mounts[${i}] is not an object`);
      return {
        hostPath: str(m.hostPath, `${f}.mounts[${i}].hostPath`),
        containerPath: str(m.containerPath, `${f}.mounts[${i}].containerPath`),
        writable: bool(m.writable, `${f}.mounts[${i}].writable`),
      };
    });
    return {
      kind: 'container',
      image: str(v.image, `${f}.image`),
      command: strArray(v.command ?? [], `${f}.command`),
      env: strRecord(v.env ?? {}, `${f}.env`),
      workingDir: str(v.workingDir ?? '', `${f}.workingDir`),
      cpuMillis: count(v.cpuMillis ?? 0, `${f}.cpuMillis`),
      memoryBytes: count(v.memoryBytes ?? 0, `${f}.memoryBytes`),
      pidsLimit: count(v.pidsLimit ?? 0, `${f}.pidsLimit`),
      user: str(v.user ?? '', `${f}.user`),
      network: bool(v.network ?? false, `${f}.network`),
      mounts,
    };
  },
  slurm: (v, f) => {
    const name = optStr(v.name, `${f}.name`);
    const args = optStrRecord(v.args, `${f}.args`);
    const account = optStr(v.account, `${f}.account`);
    return {
      kind: 'slurm',
      ...(name !== undefined ? { name } : {}),
      ...(args !== undefined ? { args } : {}),
      ...(account !== undefined ? { account } : {}),
      script: str(v.script ?? '', `${f}.script`),
      command: strArray(v.command ?? [], `${f}.command`),
      partition: str(v.partition ?? '', `${f}.partition`),
      gres: str(v.gres ?? '', `${f}.gres`),
      cpus: count(v.cpus ?? 0, `${f}.cpus`),
      memoryMb: count(v.memoryMb ?? 0, `${f}.memoryMb`),
      timeLimitMinutes: count(v.timeLimitMinutes ?? 0, `${f}.timeLimitMinutes`),
      env: strRecord(v.env ?? {}, `${f}.env`),
    };
  },
  runner: (v, f) => ({ kind: 'runner', task: str(v.task, `${f}.task`), runner: str(v.runner ?? '', `${f}.runner`) }),
} as const satisfies { readonly [K in ExecutorKind]: (v: Record<string, unknown>, field: string) => ExecutorSpecOf<K> };

/** The executor spec of a job, every field of the right type; BadJob otherwise. */
function parseExecutor(v: unknown): ExecutorSpec {
  if (!isRecord(v)) throw new BadJob('executor is not an object');
  if (!isExecutorKind(v.kind)) throw new BadJob(`executor kind "${String(v.kind).slice(0, 40)}" is not one this pool knows`);
  return JOB_EXECUTOR_READERS[v.kind](v, `executor.${v.kind}`);
}

export class JobAdmission {
  private readonly uid: number;

  constructor(private readonly opts: JobAdmissionOptions) {
    this.uid = opts.uid ?? poolUid();
  }

  /** The task to run, or a non-retryable TaskError with code policy_denied. */
  admit(taskClass: string, job: { name: string; data: unknown }): AdmittedTask {
    try {
      return this.check(taskClass, job);
    } catch (err) {
      if (err instanceof BadJob)
        throw new TaskError('policy_denied', `refused by the pool: the job's data is not a valid task: ${err.message}`, { retryable: false });
      if (err instanceof OrchestratorError && !(err instanceof TaskError))
        throw new TaskError('policy_denied', `refused by the pool: ${err.message}`, { retryable: false });
      throw err;
    }
  }

  private check(taskClass: string, job: { name: string; data: unknown }): AdmittedTask {
    const cls = this.opts.classes.get(taskClass);
    if (!cls) throw new BadJob(`class "${taskClass}" is not configured on this pool`);
    const { data } = job;
    if (!isRecord(data)) throw new BadJob('its data is not an object');
    const payload = strRecord(data.payload, 'payload');
    // Absent: the task was submitted without one, and gets this pool's class timeout.
    const timeoutMs = data.timeoutMs === undefined ? cls.timeoutMs : count(data.timeoutMs, 'timeoutMs');
    if (timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) throw new BadJob(`timeoutMs must be from 1 to ${MAX_TIMEOUT_MS}`);
    const executor = jobExecutor({ name: job.name, data: data as Partial<TaskJobData> as TaskJobData });
    if (executor === undefined) throw new BadJob(`it has no executor and its name "${String(job.name).slice(0, 40)}" names none`);
    const parsed = parseExecutor(executor);
    const spec = checkExecutor('executor', parsed, { policy: this.opts.policy, cls, payload, timeoutMs, timeoutField: 'timeoutMs' });
    return { executor: this.resolve(cls, spec, payload), payload, timeoutMs };
  }

  /** Named commands and scripts become their argv; raw commands meet the pool's own rules. */
  private resolve(cls: TaskClassOptions, spec: ExecutorSpec, payload: Record<string, string>): ExecutorSpec {
    const { policy } = this.opts;
    if (spec.kind === 'command') {
      if (spec.name) {
        const t = policy.commands.get(spec.name)!;
        const argv = fillCommandTemplate(t, spec.args ?? {}, payload, 'executor.command', spec.name);
        return { kind: 'command', argv, env: { ...t.env, ...spec.env }, cwd: t.cwd };
      }
      const user = this.opts.runAs.get(cls.name);
      if (this.uid === 0 && (!user || user.uid === 0))
        throw new TaskError(
          'policy_denied',
          `refused by the pool: raw command tasks do not run as root; set classes.${cls.name}.policy.command.runAs to an unprivileged user on this pool`,
          { retryable: false },
        );
      return spec;
    }
    if (spec.kind === 'container') {
      // Limits and user made explicit here, from this pool's defaults kept under the class's
      // ceilings, so what the engine gets is exactly what was checked.
      const p = cls.policy.container;
      const d = policy.containerDefaults;
      return {
        ...spec,
        memoryBytes: containerLimit(spec.memoryBytes, d.memoryBytes, p.maxMemoryBytes),
        cpuMillis: containerLimit(spec.cpuMillis, d.cpuMillis, p.maxCpuMillis),
        pidsLimit: containerLimit(spec.pidsLimit, d.pidsLimit, p.maxPidsLimit),
        user: spec.user || p.user,
      };
    }
    if (spec.kind === 'slurm' && spec.name) {
      const t = policy.slurmScripts.get(spec.name)!;
      const command = fillCommandTemplate(t, spec.args ?? {}, payload, 'executor.slurm', spec.name);
      return { ...spec, command, env: { ...t.env, ...spec.env } };
    }
    return spec;
  }
}
