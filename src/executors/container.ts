/** The container executor: a locked-down Docker container (workers/executors/container.ts runs it). */
import { invalidArgument, permissionDenied } from '../errors/errors.js';
import { imageAllowed, normaliseAbsolutePath, pathAllowed } from './executor-policy.js';
import type { ExecutorModule } from './executor-module.js';
import type { ContainerExecutorSpec, ContainerMountSpec } from './executor-spec.js';
import { checkArgv, checkEnv, checkInt, listed, mapEnv, sortedRecord, type ExecutorCheckContext } from './spec-checks.js';

const IMAGE_RE = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$/;
/** An image reference, or a pattern of one where `*` stands for any run of characters. */
export const IMAGE_PATTERN_RE = /^[A-Za-z0-9*][A-Za-z0-9._/:@*-]{0,254}$/;
export const CONTAINER_USER_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,63})?$/;
/** A user that is root inside a container: "root", uid 0, with any group. */
const ROOT_USER_RE = /^(root|0+)(:|$)/;
/** Docker refuses a memory limit under 6 MiB. */
const MIN_CONTAINER_MEMORY_BYTES = 6 << 20;

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

/** The per-task limit the pool applies: the task's own, else the pool default kept under the class ceiling. */
export function containerLimit(asked: number, poolDefault: number, ceiling: number): number {
  return asked || Math.min(poolDefault, ceiling);
}

function checkContainer(field: string, e: ContainerExecutorSpec, c: ExecutorCheckContext): ContainerExecutorSpec {
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

export const containerExecutor = {
  kind: 'container',
  check: checkContainer,
  fromPb: (v) => ({
    kind: 'container',
    ...v,
    mounts: v.mounts.map((m) => ({ hostPath: m.hostPath, containerPath: m.containerPath, writable: m.writable })),
  }),
  toPb: ({ kind: _kind, ...value }) => value,
  mapTemplated: (e, fn) => ({
    ...e,
    command: e.command.map((a, i) => fn(`executor.container.command[${i}]`, a)),
    env: mapEnv('executor.container.env', e.env, fn),
  }),
} as const satisfies ExecutorModule<'container'>;
