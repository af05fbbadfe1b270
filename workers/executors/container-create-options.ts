/**
 * What the container executor asks the Docker engine to create for one attempt: a pure function
 * of the task's spec, the attempt and the pool's settings, so the lockdown (and a GPU's device
 * request) can be checked without running anything.
 */
import type Docker from 'dockerode';
import type { ContainerExecutorSpec } from '../../src/tasks/task-spec.js';

/** Labels on every container the executor creates. */
export const CONTAINER_LABELS = {
  /** The Redis key prefix of the deployment, so that deployments sharing an engine leave each other alone. */
  prefix: 'orchestrator.prefix',
  taskId: 'orchestrator.task_id',
  poolId: 'orchestrator.pool_id',
  attempt: 'orchestrator.attempt',
} as const;

export interface ContainerAttempt {
  taskId: string;
  taskClass: string;
  attempt: number;
  /** Extra environment (CUDA_VISIBLE_DEVICES, ...); the task's own env wins. */
  env: Record<string, string>;
  /** The GPU the attempt holds: handed over as a device request for the nvidia driver. */
  gpu?: string;
  /** Bind mounts, already resolved and checked on this host. */
  mounts: Docker.MountSettings[];
}

export interface ContainerPoolSettings {
  prefix: string;
  poolId: string;
  networkMode: string;
  defaultMemoryBytes: number;
  defaultCpuMillis: number;
  defaultPidsLimit: number;
  tmpfsBytes: number;
}

export function containerCreateOptions(
  spec: Omit<ContainerExecutorSpec, 'kind'>,
  a: ContainerAttempt,
  pool: ContainerPoolSettings,
): Docker.ContainerCreateOptions {
  const env = {
    ...a.env,
    ...spec.env,
    ORCHESTRATOR_TASK_ID: a.taskId,
    ORCHESTRATOR_TASK_CLASS: a.taskClass,
    ORCHESTRATOR_ATTEMPT: String(a.attempt),
  };
  const memory = spec.memoryBytes || pool.defaultMemoryBytes;
  return {
    Image: spec.image,
    Cmd: spec.command.length > 0 ? spec.command : undefined,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    WorkingDir: spec.workingDir || undefined,
    User: spec.user || undefined,
    Labels: {
      [CONTAINER_LABELS.prefix]: pool.prefix,
      [CONTAINER_LABELS.taskId]: a.taskId,
      [CONTAINER_LABELS.poolId]: pool.poolId,
      [CONTAINER_LABELS.attempt]: String(a.attempt),
    },
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: false,
    Tty: false,
    HostConfig: {
      NetworkMode: spec.network ? pool.networkMode : 'none',
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${pool.tmpfsBytes}` },
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Privileged: false,
      Binds: [],
      Mounts: a.mounts,
      Memory: memory,
      // Equal to Memory: no swap on top of the limit.
      MemorySwap: memory,
      NanoCpus: (spec.cpuMillis || pool.defaultCpuMillis) * 1_000_000,
      PidsLimit: spec.pidsLimit || pool.defaultPidsLimit,
      LogConfig: { Type: 'none', Config: {} },
      // Only the attempt's own GPU: the nvidia runtime exposes exactly the devices requested.
      DeviceRequests: a.gpu === undefined ? undefined : [{ Driver: 'nvidia', DeviceIDs: [a.gpu], Capabilities: [['gpu']] }],
    },
  };
}
