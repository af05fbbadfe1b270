/**
 * The files orchctl reads: the tasks of `submit --file` and the definition of `workflow create`
 * (README "orchctl", File formats). Each field may be written the client's way (camelCase,
 * `"executor": {"handler": "echo"}`, `"type": "fixed"`) or the proto's JSON way (snake_case or
 * camelCase, `{"handler": {"name": "echo"}}`, `"BACKOFF_TYPE_FIXED"`, int64 as strings), so a
 * message copied from grpcurl, the Python client or `orchctl --json` works as is. A key that is
 * none of these is refused with its path: a typo (`depends`) would otherwise drop a dependency
 * without a word. Map fields (payload, args, env, headers) keep their keys as written.
 */
import type { ExecutorInput, TaskInput, WorkflowInput } from '../client/orchestrator-client.js';
import { CliError, EXIT } from './cli-context.js';
import type { ExecutorInputs } from '../executors/client-executors.js';
import { EXECUTOR_KINDS, type ExecutorKind } from '../executors/executor-kind.js';

type Obj = Record<string, unknown>;

const bad = (where: string, what: string): never => {
  throw new CliError(`${where}: ${what}`, EXIT.usage);
};

const camel = (k: string) => k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The object's fields by their camelCase names; refuses one not in `known` (or given twice, as a_b and aB). */
function fields(v: unknown, where: string, known: readonly string[]): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad(where, 'expected an object');
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) {
    const name = camel(k);
    if (!known.includes(name)) bad(`${where}.${k}`, `unknown field (known: ${known.join(', ')})`);
    if (name in out) bad(`${where}.${k}`, `given twice (as ${name} and ${k})`);
    out[name] = x;
  }
  return out;
}

function str(v: unknown, where: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') return bad(where, 'expected a string');
  return v;
}

/** A number; proto JSON writes int64 as a string of digits. */
function num(v: unknown, where: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) return bad(where, 'expected a number');
  return n;
}

function bool(v: unknown, where: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') return bad(where, 'expected true or false');
  return v;
}

function strings(v: unknown, where: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) return bad(where, 'expected a list of strings');
  return v as string[];
}

/** A map<string, string>; other JSON values are kept as their JSON text (as --payload-file does). */
function stringMap(v: unknown, where: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) return bad(where, 'expected an object of strings');
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typeof x === 'string' ? x : JSON.stringify(x)]));
}

/** An enum value: the short name (`fixed`) or the proto's (`BACKOFF_TYPE_FIXED`), any case. */
function enumValue<T extends string>(v: unknown, where: string, prefix: string, names: readonly T[]): T | undefined {
  if (v === undefined || v === null) return undefined;
  const s = typeof v === 'string' ? v.toLowerCase().replace(prefix.toLowerCase(), '') : undefined;
  const hit = names.find((n) => n === s);
  return hit ?? bad(where, `expected one of ${names.join(', ')} (or ${names.map((n) => `${prefix}${n.toUpperCase()}`).join(', ')})`);
}

/** Each kind's reader, keyed by kind: a kind added to EXECUTOR_KINDS is a compile error here until orchctl can read it. */
export const EXECUTOR_READERS = {
  handler: (v, at) => {
    if (typeof v === 'string') return { handler: v };
    return { handler: str(fields(v, at, ['name']).name, `${at}.name`) ?? bad(at, 'needs a name') };
  },
  command: (v, at) => {
    const c = fields(v, at, ['name', 'args', 'argv', 'env', 'cwd']);
    return {
      command: {
        name: str(c.name, `${at}.name`),
        args: stringMap(c.args, `${at}.args`),
        argv: strings(c.argv, `${at}.argv`),
        env: stringMap(c.env, `${at}.env`),
        cwd: str(c.cwd, `${at}.cwd`),
      },
    };
  },
  http: (v, at) => {
    const h = fields(v, at, ['url', 'method', 'headers']);
    return {
      http: { url: str(h.url, `${at}.url`) ?? bad(at, 'needs a url'), method: str(h.method, `${at}.method`), headers: stringMap(h.headers, `${at}.headers`) },
    };
  },
  container: (v, at) => {
    const c = fields(v, at, ['image', 'command', 'env', 'workingDir', 'cpuMillis', 'memoryBytes', 'pidsLimit', 'user', 'network', 'mounts']);
    const mounts = c.mounts === undefined || c.mounts === null ? undefined : Array.isArray(c.mounts) ? c.mounts : bad(`${at}.mounts`, 'expected a list');
    return {
      container: {
        image: str(c.image, `${at}.image`) ?? bad(at, 'needs an image'),
        command: strings(c.command, `${at}.command`),
        env: stringMap(c.env, `${at}.env`),
        workingDir: str(c.workingDir, `${at}.working_dir`),
        cpuMillis: num(c.cpuMillis, `${at}.cpu_millis`),
        memoryBytes: num(c.memoryBytes, `${at}.memory_bytes`),
        pidsLimit: num(c.pidsLimit, `${at}.pids_limit`),
        user: str(c.user, `${at}.user`),
        network: bool(c.network, `${at}.network`),
        mounts: mounts?.map((m: unknown, i: number) => {
          const w = `${at}.mounts[${i}]`;
          const f = fields(m, w, ['hostPath', 'containerPath', 'writable']);
          return {
            hostPath: str(f.hostPath, `${w}.host_path`) ?? bad(w, 'needs host_path'),
            containerPath: str(f.containerPath, `${w}.container_path`) ?? bad(w, 'needs container_path'),
            writable: bool(f.writable, `${w}.writable`),
          };
        }),
      },
    };
  },
  slurm: (v, at) => {
    const s = fields(v, at, ['name', 'args', 'account', 'script', 'command', 'partition', 'gres', 'cpus', 'memoryMb', 'timeLimitMinutes', 'env']);
    return {
      slurm: {
        name: str(s.name, `${at}.name`),
        args: stringMap(s.args, `${at}.args`),
        account: str(s.account, `${at}.account`),
        script: str(s.script, `${at}.script`),
        command: strings(s.command, `${at}.command`),
        partition: str(s.partition, `${at}.partition`),
        gres: str(s.gres, `${at}.gres`),
        cpus: num(s.cpus, `${at}.cpus`),
        memoryMb: num(s.memoryMb, `${at}.memory_mb`),
        timeLimitMinutes: num(s.timeLimitMinutes, `${at}.time_limit_minutes`),
        env: stringMap(s.env, `${at}.env`),
      },
    };
  },
  runner: (v, at) => {
    const r = fields(v, at, ['task', 'runner']);
    return { runner: { task: str(r.task, `${at}.task`) ?? bad(at, 'needs a task'), runner: str(r.runner, `${at}.runner`) } };
  },
} satisfies { [K in ExecutorKind]: (v: unknown, at: string) => { [P in K]: ExecutorInputs[K] } };

function executor(v: unknown, where: string): ExecutorInput | undefined {
  if (v === undefined || v === null) return undefined;
  const e = fields(v, where, EXECUTOR_KINDS);
  const kinds = Object.keys(e) as ExecutorKind[];
  if (kinds.length !== 1) bad(where, `expected exactly one of ${EXECUTOR_KINDS.join(', ')}`);
  const kind = kinds[0]!;
  return EXECUTOR_READERS[kind](e[kind], `${where}.${kind}`);
}

const TASK_FIELDS = ['taskId', 'taskClass', 'payload', 'priority', 'workflowId', 'maxAttempts', 'backoff', 'timeoutMs', 'delayMs', 'executor'] as const;

/** One task of a `submit --file` batch (or a workflow step's task). */
export function taskFromFile(v: unknown, where: string): TaskInput {
  const t = fields(v, where, TASK_FIELDS);
  let backoff: TaskInput['backoff'];
  if (t.backoff !== undefined && t.backoff !== null) {
    const b = fields(t.backoff, `${where}.backoff`, ['type', 'delayMs']);
    backoff = {
      type: enumValue(b.type, `${where}.backoff.type`, 'BACKOFF_TYPE_', ['fixed', 'exponential'] as const),
      delayMs: num(b.delayMs, `${where}.backoff.delay_ms`) ?? 0,
    };
  }
  return {
    taskId: str(t.taskId, `${where}.task_id`),
    taskClass: str(t.taskClass, `${where}.task_class`) ?? bad(where, 'needs task_class (or taskClass)'),
    payload: stringMap(t.payload, `${where}.payload`) ?? {},
    priority: num(t.priority, `${where}.priority`),
    workflowId: str(t.workflowId, `${where}.workflow_id`),
    maxAttempts: num(t.maxAttempts, `${where}.max_attempts`),
    backoff,
    timeoutMs: num(t.timeoutMs, `${where}.timeout_ms`),
    delayMs: num(t.delayMs, `${where}.delay_ms`),
    executor: executor(t.executor, `${where}.executor`),
  };
}

/** The definition of `workflow create`. */
export function workflowFromFile(v: unknown, where: string): WorkflowInput {
  const w = fields(v, where, ['name', 'description', 'failurePolicy', 'steps']);
  if (!Array.isArray(w.steps)) bad(`${where}.steps`, 'expected a list of steps');
  return {
    name: str(w.name, `${where}.name`) ?? bad(where, 'needs a name'),
    description: str(w.description, `${where}.description`),
    failurePolicy: enumValue(w.failurePolicy, `${where}.failure_policy`, 'FAILURE_POLICY_', ['fail_fast', 'continue'] as const),
    steps: (w.steps as unknown[]).map((s, i) => {
      const at = `${where}.steps[${i}]`;
      const f = fields(s, at, ['stepId', 'dependsOn', 'task']);
      return {
        stepId: str(f.stepId, `${at}.step_id`) ?? bad(at, 'needs step_id (or stepId)'),
        dependsOn: strings(f.dependsOn, `${at}.depends_on`),
        task: taskFromFile(f.task, `${at}.task`),
      };
    }),
  };
}
