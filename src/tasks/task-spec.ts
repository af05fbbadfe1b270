/**
 * The task model: what a client submits, how it is validated, and what a BullMQ job carries.
 * Validation happens before anything is written, and names the field at fault.
 */
import { createHash, randomFillSync } from 'node:crypto';
import type { TaskClassOptions, BackoffKind } from '../../queues/task-classes.js';
import { invalidArgument, permissionDenied } from './errors.js';
import { fillCommandTemplate } from './command-template.js';
import type { TraceCarrier } from '../tracing/trace-context.js';
import {
  DEFAULT_EXECUTOR_POLICY,
  httpUrlAllowed,
  imageAllowed,
  normaliseAbsolutePath,
  normaliseHttpUrl,
  pathAllowed,
  type ExecutorPolicy,
} from './executor-policy.js';

export type ExecutorSpec = { kind: 'handler'; name: string } | CommandExecutorSpec | HttpExecutorSpec | ContainerExecutorSpec | SlurmExecutorSpec;

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

/** The built-in handlers that fail, crash or burn a CPU on purpose: off unless executors.handler.testHandlers. */
export const TEST_HANDLERS: ReadonlySet<string> = new Set(['fail', 'crash', 'spin']);

/** POST (or PUT, PATCH) the task as JSON to `url`; the response body is the result. */
export interface HttpExecutorSpec {
  kind: 'http';
  /** Normalised at submission (see executor-policy.ts). */
  url: string;
  /** POST, PUT or PATCH; '' on input means POST. */
  method: string;
  headers: Record<string, string>;
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

export const HTTP_METHODS: readonly string[] = ['POST', 'PUT', 'PATCH'];
/** Header names the http executor sets itself, or that would break the request's framing. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-type',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
]);
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export interface TaskSubmission {
  taskId?: string;
  taskClass: string;
  payload: Record<string, string>;
  /** 0..1000, higher runs first. @default 0 */
  priority?: number;
  /** The run whose step this task is; set by the workflow engine only (ValidateOptions.workflowStep). */
  workflowId?: string;
  /** 0 or unset: the class default. */
  maxAttempts?: number;
  backoff?: { type?: BackoffKind; delayMs: number };
  /** 0 or unset: the class default. */
  timeoutMs?: number;
  delayMs?: number;
  /** Unset: handler "echo". */
  executor?: ExecutorSpec;
  /** The schedule submitting the task (src/schedules/); not settable through SubmitTask. */
  scheduleId?: string;
  /** With scheduleId: the tick (ms) this task is for; a tick submits at most one task. */
  scheduleTickMs?: number;
  /**
   * The trace its spans continue (src/tracing/), set only while tracing is on. Not content: a
   * resubmission under another trace is the same task (it is not in the digest).
   */
  trace?: TraceCarrier;
}

/** What a BullMQ job's data holds. Kept small: it is stored once per task. */
export interface TaskJobData {
  executor: ExecutorSpec;
  payload: Record<string, string>;
  timeoutMs: number;
  scheduleId?: string;
  /** W3C trace context of the span that submitted the task (src/tracing/); only while tracing is on. */
  traceparent?: string;
  tracestate?: string;
  /**
   * Attempts made before the last RetryTasks (which restarts BullMQ's count): attempt numbers
   * go on from here, so (task_id, attempt) stays unique across retries.
   */
  attemptsBefore?: number;
  /**
   * The attempts the task was submitted with, kept once a RetryTasks gave it another count, so
   * a later retry without one renews these. After attemptsBefore (the scripts read that with
   * a pattern ending in "," or "}").
   */
  submittedAttempts?: number;
  /** Last: ListTasks reads it from the end of the job's data (task-list.ts). */
  workflowId?: string;
}

/** Attempts a task made before its last manual retry (TaskJobData.attemptsBefore). */
export const attemptsBefore = (data: TaskJobData | undefined): number => data?.attemptsBefore ?? 0;

/** A validated submission, ready to enqueue. */
export interface ResolvedTask {
  taskId: string;
  taskClass: string;
  /** Content digest for idempotent resubmission (kept in the task index, not on the job). */
  digest: string;
  data: TaskJobData;
  /** BullMQ job name: the executor, for dashboards ("handler:echo", "command", "http"). */
  jobName: string;
  attempts: number;
  backoff: { type: BackoffKind; delay: number };
  bullPriority: number;
  delayMs: number;
  /** The schedule tick this task is for (TaskSubmission.scheduleTickMs). */
  scheduleTickMs?: number;
}

export const MAX_PRIORITY = 1000;
/** BullMQ refuses job ids with ":" (its own repeat-job keys) and all-digit ones (its counters). */
const TASK_ID_RE = /^[A-Za-z0-9._-]{1,128}$/;
const ALL_DIGITS_RE = /^\d+$/;
const NAME_RE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
export const MAX_ATTEMPTS = 1000;
export const MAX_TIMEOUT_MS = 7 * 24 * 3_600_000;
const MAX_DELAY_MS = 365 * 24 * 3_600_000;

export interface ValidateOptions {
  classes: ReadonlyMap<string, TaskClassOptions>;
  maxPayloadBytes: number;
  /** Field path prefix for messages, e.g. "tasks[3]". */
  field: string;
  /** What executors may do. @default DEFAULT_EXECUTOR_POLICY (no http calls, no container network) */
  executors?: ExecutorPolicy;
  /**
   * The workflow engine submitting a run's step task: the only submitter that may set
   * workflowId, since a task carrying a run's id feeds its outcome to that run. @default false
   */
  workflowStep?: boolean;
}

/**
 * BullMQ runs lower numbers first and puts un-prioritised jobs ahead of all prioritised ones,
 * so every task gets a BullMQ priority: 1 + (1000 - priority). Priority 1000 -> 1 (first),
 * 0 -> 1001 (last); equal priorities keep submission order.
 */
export function toBullPriority(priority: number): number {
  return 1 + (MAX_PRIORITY - priority);
}

/** The inverse of toBullPriority. */
export function fromBullPriority(bullPriority: number): number {
  return bullPriority > 0 ? MAX_PRIORITY + 1 - bullPriority : 0;
}

function checkInt(field: string, v: number | undefined, min: number, max: number): number {
  const n = v ?? 0;
  if (!Number.isInteger(n) || n < min || n > max) throw invalidArgument(field, `must be an integer from ${min} to ${max}, got ${v}`);
  return n;
}

/** A copy with its keys sorted, so that maps given in another order digest the same. */
function sortedRecord(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.keys(r)
      .sort()
      .map((k) => [k, r[k]!]),
  );
}

const IMAGE_RE = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$/;
/** An image reference, or a pattern of one where `*` stands for any run of characters. */
export const IMAGE_PATTERN_RE = /^[A-Za-z0-9*][A-Za-z0-9._/:@*-]{0,254}$/;
export const CONTAINER_USER_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,63})?$/;
/** A user that is root inside a container: "root", uid 0, with any group. */
const ROOT_USER_RE = /^(root|0+)(:|$)/;
/** Docker refuses a memory limit under 6 MiB. */
const MIN_CONTAINER_MEMORY_BYTES = 6 << 20;

function checkEnv(field: string, env: Record<string, string>): void {
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw invalidArgument(field, `"${k.slice(0, 100).replace(/\0/g, '\\0')}" is not an environment variable name`);
    // The environment is handed to execve as NUL-terminated strings: a NUL would cut the value.
    if (typeof v !== 'string' || v.includes('\0')) throw invalidArgument(`${field}.${k}`, 'must be a string without NUL');
  }
}

function checkArgv(field: string, argv: readonly string[]): void {
  const i = argv.findIndex((a) => a.includes('\0'));
  if (i >= 0) throw invalidArgument(`${field}[${i}]`, 'must not contain NUL');
}

function checkMount(field: string, m: ContainerMountSpec, allowed: readonly string[]): ContainerMountSpec {
  const hostPath = normaliseAbsolutePath(m.hostPath);
  if (hostPath === undefined) throw invalidArgument(`${field}.host_path`, 'must be an absolute path');
  if (!pathAllowed(hostPath, allowed)) {
    const dirs = allowed.length === 0 ? 'none is configured' : allowed.join(', ');
    throw invalidArgument(`${field}.host_path`, `"${hostPath.slice(0, 200)}" is not under an allowed directory (executors.container.allowedMounts: ${dirs})`);
  }
  const containerPath = normaliseAbsolutePath(m.containerPath);
  if (containerPath === undefined || containerPath === '/') throw invalidArgument(`${field}.container_path`, 'must be an absolute path other than /');
  return { hostPath, containerPath, writable: m.writable };
}

/** What one executor check needs besides the spec. */
interface CheckContext {
  policy: ExecutorPolicy;
  cls: TaskClassOptions;
  payload: Record<string, string>;
  /** The attempt timeout the task will run under (its own or the class default). */
  timeoutMs: number;
  /** Field of the task's timeout, for the container ceiling's message. */
  timeoutField: string;
}

const listed = (items: readonly string[]): string => (items.length === 0 ? 'none' : items.join(', '));

/** The per-task limit the pool applies: the task's own, else the pool default kept under the class ceiling. */
export function containerLimit(asked: number, poolDefault: number, ceiling: number): number {
  return asked || Math.min(poolDefault, ceiling);
}

function checkContainer(field: string, e: ContainerExecutorSpec, c: CheckContext): ContainerExecutorSpec {
  const f = `${field}.container`;
  const { cls, policy } = c;
  const rule = `classes.${cls.name}.policy.container`;
  const p = cls.policy.container;
  if (!IMAGE_RE.test(e.image)) throw invalidArgument(`${f}.image`, `"${e.image.slice(0, 100)}" is not an image reference`);
  if (!imageAllowed(e.image, p.images))
    throw permissionDenied(`${f}.image`, `"${e.image}" is not an image class ${cls.name} may run (${rule}.images: ${listed(p.images)})`);
  checkArgv(`${f}.command`, e.command);
  checkEnv(`${f}.env`, e.env);
  if (e.workingDir !== '' && (!e.workingDir.startsWith('/') || e.workingDir.includes('\0')))
    throw invalidArgument(`${f}.working_dir`, 'must be an absolute path without NUL');
  if (e.user !== '' && !CONTAINER_USER_RE.test(e.user)) throw invalidArgument(`${f}.user`, `"${e.user.slice(0, 100)}" is not a user, uid or uid:gid`);
  if (e.user !== '' && ROOT_USER_RE.test(e.user) && !p.allowRootUser)
    throw permissionDenied(`${f}.user`, `containers of class ${cls.name} may not run as root (${rule}.allowRootUser)`);
  checkInt(`${f}.cpu_millis`, e.cpuMillis, 0, 1_000_000);
  checkInt(`${f}.pids_limit`, e.pidsLimit, 0, 1_000_000);
  checkInt(`${f}.memory_bytes`, e.memoryBytes, 0, Number.MAX_SAFE_INTEGER);
  if (e.memoryBytes !== 0 && e.memoryBytes < MIN_CONTAINER_MEMORY_BYTES)
    throw invalidArgument(`${f}.memory_bytes`, `must be 0 or at least ${MIN_CONTAINER_MEMORY_BYTES}`);
  // Refused, not clamped: a task that asks for more than the class allows is told so.
  for (const [key, asked, ceiling] of [
    ['memory_bytes', e.memoryBytes, p.maxMemoryBytes],
    ['cpu_millis', e.cpuMillis, p.maxCpuMillis],
    ['pids_limit', e.pidsLimit, p.maxPidsLimit],
  ] as const) {
    if (asked > ceiling) throw permissionDenied(`${f}.${key}`, `${asked} is over the class's ceiling of ${ceiling} (${rule}.max${ceilingKey(key)})`);
  }
  if (c.timeoutMs > p.maxTimeoutMs)
    throw permissionDenied(
      c.timeoutField,
      `${c.timeoutMs} ms is over the container ceiling of ${p.maxTimeoutMs} ms of class ${cls.name} (${rule}.maxTimeoutMs)`,
    );
  const mounts = e.mounts.map((m, i) => checkMount(`${f}.mounts[${i}]`, m, policy.containerAllowedMounts));
  if (new Set(mounts.map((m) => m.containerPath)).size !== mounts.length) throw invalidArgument(`${f}.mounts`, 'two mounts share a container path');
  if (e.network && !policy.containerAllowNetwork)
    throw permissionDenied(`${f}.network`, 'containers may not have a network here (executors.container.allowNetwork is off)');
  return {
    kind: 'container',
    image: e.image,
    command: [...e.command],
    env: sortedRecord(e.env),
    workingDir: e.workingDir,
    cpuMillis: e.cpuMillis,
    memoryBytes: e.memoryBytes,
    pidsLimit: e.pidsLimit,
    user: e.user,
    network: e.network,
    mounts,
  };
}

const ceilingKey = (key: 'memory_bytes' | 'cpu_millis' | 'pids_limit'): string =>
  ({ memory_bytes: 'MemoryBytes', cpu_millis: 'CpuMillis', pids_limit: 'PidsLimit' })[key];

/** A Slurm partition or account name. */
export const SLURM_NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
/** Slurm's gres syntax: name[:type]:count, comma-separated. */
const SLURM_GRES_RE = /^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+){0,2}(,[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+){0,2})*$/;
const MAX_SLURM_SCRIPT_BYTES = 1 << 20;

function checkSlurm(field: string, e: SlurmExecutorSpec, c: CheckContext): SlurmExecutorSpec {
  const f = `${field}.slurm`;
  const { cls } = c;
  const p = cls.policy.slurm;
  const rule = `classes.${cls.name}.policy.slurm`;
  const name = e.name ?? '';
  if ([name !== '', e.script !== '', e.command.length > 0].filter(Boolean).length !== 1)
    throw invalidArgument(f, 'needs exactly one of name, script and command');
  const args = e.args ?? {};
  if (name !== '') {
    checkNamed(`${f}`, name, args, c.payload, c.policy.slurmScripts, p.names, `${rule}.names`, 'executors.slurm.scripts');
  } else {
    if (Object.keys(args).length > 0) throw invalidArgument(`${f}.args`, 'goes with name');
    if (!p.raw)
      throw permissionDenied(
        `${f}.${e.script !== '' ? 'script' : 'command'}`,
        `raw Slurm scripts and commands are off for class ${cls.name} (${rule}.raw); name a script of executors.slurm.scripts`,
      );
  }
  if (e.script !== '') {
    if (!e.script.startsWith('#!')) throw invalidArgument(`${f}.script`, 'must start with "#!" (e.g. "#!/bin/sh")');
    if (e.script.includes('\0')) throw invalidArgument(`${f}.script`, 'must not contain NUL');
    if (Buffer.byteLength(e.script) > MAX_SLURM_SCRIPT_BYTES) throw invalidArgument(`${f}.script`, `is over ${MAX_SLURM_SCRIPT_BYTES} bytes`);
  }
  if (e.command.length > 0 && !e.command[0]) throw invalidArgument(`${f}.command`, 'must name a program');
  checkArgv(`${f}.command`, e.command);
  if (e.partition !== '' && !SLURM_NAME_RE.test(e.partition)) throw invalidArgument(`${f}.partition`, `"${e.partition.slice(0, 100)}" is not a partition name`);
  if (e.partition !== '' && !p.partitions.includes(e.partition))
    throw permissionDenied(`${f}.partition`, `class ${cls.name} may not use partition "${e.partition}" (${rule}.partitions: ${listed(p.partitions)})`);
  const account = e.account ?? '';
  if (account !== '' && !SLURM_NAME_RE.test(account)) throw invalidArgument(`${f}.account`, `"${account.slice(0, 100)}" is not an account name`);
  if (account !== '' && !p.accounts.includes(account))
    throw permissionDenied(`${f}.account`, `class ${cls.name} may not use account "${account}" (${rule}.accounts: ${listed(p.accounts)})`);
  if (e.gres !== '' && !SLURM_GRES_RE.test(e.gres)) throw invalidArgument(`${f}.gres`, `"${e.gres.slice(0, 100)}" is not a gres list (e.g. "gpu:1")`);
  checkInt(`${f}.cpus`, e.cpus, 0, 100_000);
  checkInt(`${f}.memory_mb`, e.memoryMb, 0, Number.MAX_SAFE_INTEGER);
  checkInt(`${f}.time_limit_minutes`, e.timeLimitMinutes, 0, 1_000_000);
  checkEnv(`${f}.env`, e.env);
  return {
    kind: 'slurm',
    // Only when set, so digests of raw tasks submitted before named scripts existed stay what they were.
    ...(name !== '' ? { name, args: sortedRecord(args) } : {}),
    ...(account !== '' ? { account } : {}),
    script: e.script,
    command: [...e.command],
    partition: e.partition,
    gres: e.gres,
    cpus: e.cpus,
    memoryMb: e.memoryMb,
    timeLimitMinutes: e.timeLimitMinutes,
    env: sortedRecord(e.env),
  };
}

/** Checks a named command or script: defined, allowed for the class, its values safe. */
function checkNamed(
  f: string,
  name: string,
  args: Record<string, string>,
  payload: Record<string, string>,
  defined: ExecutorPolicy['commands'],
  allowed: readonly string[] | undefined,
  allowedKey: string,
  definedKey: string,
): void {
  const template = defined.get(name);
  if (!template) throw invalidArgument(`${f}.name`, `"${name.slice(0, 100)}" is not defined here (${definedKey}: ${listed([...defined.keys()])})`);
  if (allowed && !allowed.includes(name)) throw permissionDenied(`${f}.name`, `"${name}" is not allowed for this class (${allowedKey}: ${listed(allowed)})`);
  for (const [k, v] of Object.entries(args)) {
    if (typeof v !== 'string') throw invalidArgument(`${f}.args.${k}`, 'must be a string');
  }
  fillCommandTemplate(template, args, payload, f, name);
}

function checkCommand(field: string, e: CommandExecutorSpec, c: CheckContext): CommandExecutorSpec {
  const f = `${field}.command`;
  const { cls } = c;
  const p = cls.policy.command;
  const rule = `classes.${cls.name}.policy.command`;
  const name = e.name ?? '';
  const args = e.args ?? {};
  checkEnv(`${f}.env`, e.env);
  if (name !== '') {
    if (e.argv.length > 0 || e.cwd !== '') throw invalidArgument(f, 'give either name (with args) or argv (with cwd), not both');
    checkNamed(f, name, args, c.payload, c.policy.commands, p.names, `${rule}.names`, 'executors.command.commands');
    return { kind: 'command', name, args: sortedRecord(args), argv: [], env: { ...e.env }, cwd: '' };
  }
  if (Object.keys(args).length > 0) throw invalidArgument(`${f}.args`, 'goes with name');
  if (e.argv.length === 0 || !e.argv[0]) throw invalidArgument(`${f}.argv`, 'must name a program (or give name: a named command)');
  if (!p.raw)
    throw permissionDenied(`${f}.argv`, `raw command tasks are off for class ${cls.name} (${rule}.raw); name a command of executors.command.commands`);
  checkArgv(`${f}.argv`, e.argv);
  if (e.cwd !== '' && normaliseAbsolutePath(e.cwd) === undefined) throw invalidArgument(`${f}.cwd`, 'must be an absolute path without NUL');
  return { kind: 'command', argv: [...e.argv], env: { ...e.env }, cwd: e.cwd };
}

function checkHttp(field: string, e: HttpExecutorSpec, policy: ExecutorPolicy): HttpExecutorSpec {
  const url = normaliseHttpUrl(e.url);
  if (url === undefined) throw invalidArgument(`${field}.http.url`, `"${e.url.slice(0, 200)}" is not an http:// or https:// URL`);
  if (!httpUrlAllowed(url, policy.httpAllowedUrlPrefixes)) {
    const allowed = policy.httpAllowedUrlPrefixes.length === 0 ? 'none is configured' : policy.httpAllowedUrlPrefixes.join(', ');
    throw permissionDenied(`${field}.http.url`, `"${url.slice(0, 200)}" does not start with an allowed prefix (executors.http.allowedUrlPrefixes: ${allowed})`);
  }
  const method = e.method === '' ? 'POST' : e.method;
  if (!HTTP_METHODS.includes(method)) throw invalidArgument(`${field}.http.method`, `must be one of ${HTTP_METHODS.join(', ')}, got "${method.slice(0, 20)}"`);
  for (const [k, v] of Object.entries(e.headers)) {
    if (!HEADER_NAME_RE.test(k)) throw invalidArgument(`${field}.http.headers`, `"${k.slice(0, 100)}" is not a header name`);
    const lower = k.toLowerCase();
    if (RESERVED_HEADERS.has(lower) || lower.startsWith('x-orchestrator-')) throw invalidArgument(`${field}.http.headers`, `"${k}" is set by the executor`);
    if (/[\r\n\0]/.test(v)) throw invalidArgument(`${field}.http.headers`, `the value of "${k}" contains a line break or NUL`);
  }
  return { kind: 'http', url, method, headers: sortedRecord(e.headers) };
}

const DEFAULT_EXECUTOR: ExecutorSpec = Object.freeze({ kind: 'handler', name: 'echo' });

/**
 * Validates an executor spec against the executors' policy and the class's: invalid_argument
 * for a malformed spec, permission_denied (naming the config key) for one the policy forbids.
 * The one check both the front end and the pool run (workers/job-admission.ts).
 */
export function checkExecutor(field: string, e: ExecutorSpec | undefined, c: CheckContext): ExecutorSpec {
  const spec = e ?? DEFAULT_EXECUTOR;
  const { cls } = c;
  if (!cls.policy.executors.includes(spec.kind)) {
    throw permissionDenied(
      e ? `${field}.${spec.kind}` : field,
      `class ${cls.name} does not accept ${spec.kind} tasks${e ? '' : ' (a task without an executor runs the handler "echo")'} (classes.${cls.name}.policy.executors: ${listed(cls.policy.executors)})`,
    );
  }
  switch (spec.kind) {
    case 'handler':
      if (!NAME_RE.test(spec.name))
        throw invalidArgument(`${field}.handler.name`, `"${spec.name}" is not a handler name ([A-Za-z0-9_.-], not starting with ".")`);
      if (TEST_HANDLERS.has(spec.name) && !c.policy.testHandlers)
        throw permissionDenied(`${field}.handler.name`, `"${spec.name}" is a test handler, off here (executors.handler.testHandlers)`);
      return spec === DEFAULT_EXECUTOR ? spec : { kind: 'handler', name: spec.name };
    case 'command':
      return checkCommand(field, spec, c);
    case 'http':
      return checkHttp(field, spec, c.policy);
    case 'container':
      return checkContainer(field, spec, c);
    case 'slurm':
      return checkSlurm(field, spec, c);
    default:
      throw invalidArgument(field, 'unknown executor kind');
  }
}

export type { CheckContext as ExecutorCheckContext };

function digestOf(t: TaskSubmission, executor: ExecutorSpec, priority: number): string {
  const payload = Object.keys(t.payload)
    .sort()
    .map((k) => [k, t.payload[k]]);
  const canonical = JSON.stringify([
    t.taskClass,
    payload,
    priority,
    t.workflowId ?? '',
    t.maxAttempts ?? 0,
    t.backoff ? [t.backoff.type ?? '', t.backoff.delayMs] : null,
    t.timeoutMs ?? 0,
    t.delayMs ?? 0,
    executor,
    // Only when set, so digests of tasks submitted otherwise stay what they were.
    ...(t.scheduleId ? [t.scheduleId] : []),
  ]);
  return createHash('sha1').update(canonical).digest('base64url');
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ID_LENGTH = 22;
const idPool = Buffer.alloc(4096);
let idPoolAt = idPool.length;

/**
 * A generated task id: 22 letters and digits, about 130 random bits. Shorter than a UUID (the id
 * is stored in five places per task: the job key, the queue, the index, the task list and every
 * event), with no "-" a command line could read as an option, and never all digits.
 */
export function newTaskId(): string {
  // Random bytes are taken from a pool refilled 4 KiB at a time: one call into the system's
  // generator per task cost more than the rest of the id.
  if (idPoolAt + ID_LENGTH > idPool.length) {
    randomFillSync(idPool);
    idPoolAt = 0;
  }
  const at = idPoolAt;
  idPoolAt += ID_LENGTH;
  let id = ID_ALPHABET[idPool[at]! % 52]!;
  for (let i = 1; i < ID_LENGTH; i++) id += ID_ALPHABET[idPool[at + i]! % 62];
  return id;
}

/** Validate one submission and apply its class defaults. Throws invalid_argument. */
export function resolveTask(t: TaskSubmission, opts: ValidateOptions): ResolvedTask {
  const f = opts.field;
  const taskId = t.taskId || newTaskId();
  if (!TASK_ID_RE.test(taskId) || ALL_DIGITS_RE.test(taskId)) {
    throw invalidArgument(`${f}.task_id`, `"${taskId.slice(0, 140)}" must be 1-128 characters of A-Z a-z 0-9 . _ -, not all digits`);
  }
  const cls = opts.classes.get(t.taskClass);
  if (!cls) throw invalidArgument(`${f}.task_class`, `unknown class "${t.taskClass}" (known: ${[...opts.classes.keys()].join(', ')})`);
  const keys = Object.keys(t.payload);
  if (keys.length === 0) throw invalidArgument(`${f}.payload`, 'must not be empty');
  let bytes = 0;
  for (const k of keys) bytes += Buffer.byteLength(k) + Buffer.byteLength(t.payload[k]!);
  if (bytes > opts.maxPayloadBytes) throw invalidArgument(`${f}.payload`, `is ${bytes} bytes, over the limit of ${opts.maxPayloadBytes}`);
  const priority = checkInt(`${f}.priority`, t.priority, 0, MAX_PRIORITY);
  const maxAttempts = checkInt(`${f}.max_attempts`, t.maxAttempts, 0, MAX_ATTEMPTS);
  const timeoutMs = checkInt(`${f}.timeout_ms`, t.timeoutMs, 0, MAX_TIMEOUT_MS);
  const delayMs = checkInt(`${f}.delay_ms`, t.delayMs, 0, MAX_DELAY_MS);
  if (t.backoff) checkInt(`${f}.backoff.delay_ms`, t.backoff.delayMs, 0, MAX_DELAY_MS);
  if (t.workflowId && !opts.workflowStep)
    throw invalidArgument(`${f}.workflow_id`, "must be empty: the workflow engine sets it on the tasks of a run's steps (start a workflow run instead)");
  if (t.workflowId && !TASK_ID_RE.test(t.workflowId))
    throw invalidArgument(`${f}.workflow_id`, `"${t.workflowId.slice(0, 140)}" must be 1-128 characters of A-Z a-z 0-9 . _ -`);
  const executor = checkExecutor(`${f}.executor`, t.executor, {
    policy: opts.executors ?? DEFAULT_EXECUTOR_POLICY,
    cls,
    payload: t.payload,
    timeoutMs: timeoutMs || cls.timeoutMs,
    timeoutField: `${f}.timeout_ms`,
  });
  const data: TaskJobData = {
    executor,
    payload: t.payload,
    timeoutMs: timeoutMs || cls.timeoutMs,
  };
  // Key order is a contract with Lua readers of the job's JSON (src/store/bullmq/task-backend.ts
  // orqJobFacts, task-list.ts): scheduleId right after timeoutMs, workflowId last. The trace
  // goes between them, and only when there is one: a task submitted with tracing off carries
  // nothing more than before.
  if (t.scheduleId) data.scheduleId = t.scheduleId;
  if (t.trace) {
    data.traceparent = t.trace.traceparent;
    if (t.trace.tracestate) data.tracestate = t.trace.tracestate;
  }
  if (t.workflowId) data.workflowId = t.workflowId;
  return {
    taskId,
    taskClass: cls.name,
    digest: digestOf(t, executor, priority),
    data,
    jobName: executor.kind === 'handler' ? `handler:${executor.name}` : executor.kind,
    attempts: maxAttempts || cls.attempts,
    backoff: t.backoff ? { type: t.backoff.type ?? cls.backoff.type, delay: t.backoff.delayMs } : { type: cls.backoff.type, delay: cls.backoff.delayMs },
    bullPriority: toBullPriority(priority),
    delayMs,
    ...(t.scheduleId && t.scheduleTickMs !== undefined ? { scheduleTickMs: t.scheduleTickMs } : {}),
  };
}
