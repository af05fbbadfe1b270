/**
 * The `container` executor: runs one attempt as a Docker container, for code we do not trust.
 *
 * Why it is shaped like this:
 * - Locked down unless told otherwise, because the task chooses the image and the command: no
 *   network (NetworkMode none) unless the task asks and the pool's config allows it; read-only
 *   root filesystem with a small writable tmpfs at /tmp; every capability dropped;
 *   no-new-privileges (setuid binaries cannot gain anything); never privileged; host
 *   directories only under `executors.container.allowedMounts` (none by default); memory (without swap), CPU and process limits from the task or the pool's
 *   defaults; Docker's log driver off, so a chatty container cannot fill the engine's disk.
 * - The container belongs to the attempt. It is removed when the attempt ends, however it ends;
 *   timeout and CancelTask stop it (SIGTERM, SIGKILL after the grace) and then remove it.
 * - A pool can die while its container runs on (the engine owns it). Two things stop it from
 *   living on: the run of the same task on another pool first removes every container
 *   labelled with the task's id, and a pool starting up removes the containers of pools that
 *   are gone (workers/container-reaper.ts). Hence the labels on every container.
 * - Output is read by attaching before the start (nothing is missed, even from a container
 *   that exits at once) and demultiplexed with dockerode into bounded tails.
 * - The pool only waits on the engine here, so no sandbox is involved (like `command`).
 * - A failed engine call ends the attempt as container-errors.ts decides: something missing
 *   (the image, the network) or no GPU driver fails for good, saying which; the engine's own
 *   trouble is retried.
 */
import { realpath } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { dockerStatus, type DockerClient } from '../../src/docker/docker-client.js';
import type { Logger } from '../../src/logging/logger.js';
import { TaskError } from '../../src/errors/errors.js';
import { pathAllowed } from '../../src/executors/executor-policy.js';
import type { ContainerExecutorSpec } from '../../src/tasks/task-spec.js';
import { abortError } from './abort-error.js';
import type { CommandResult } from './command.js';
import type { ExecutionContext, Executor } from './executor.js';
import { OutputTail } from './output-tail.js';
import { CONTAINER_LABELS, containerCreateOptions } from './container-create-options.js';
import { containerEngineError, type ContainerRequest } from './container-errors.js';
import { settlesWithin } from './settles-within.js';

export type ContainerSpec = Omit<ContainerExecutorSpec, 'kind'>;

export { CONTAINER_LABELS };

export interface ContainerExecutorOptions {
  docker: DockerClient;
  /** The Redis key prefix (label `orchestrator.prefix`). */
  prefix: string;
  poolId: string;
  logger: Logger;
  /** Whether a task may have a network (config `executors.container.allowNetwork`). @default false */
  allowNetwork?: boolean;
  /** Normalised host directories under which tasks may bind paths (config `executors.container.allowedMounts`). @default [] */
  allowedMounts?: readonly string[];
  /** The network a task that asks for one joins. @default "bridge" */
  networkMode?: string;
  /** Limits for a task that sets none. */
  defaultMemoryBytes: number;
  defaultCpuMillis: number;
  defaultPidsLimit: number;
  /** Size of the tmpfs at /tmp. @default 64 MiB */
  tmpfsBytes?: number;
  /** Time between SIGTERM and SIGKILL when stopping, rounded up to whole seconds. @default 2000 */
  killGraceMs?: number;
  /** Bytes of stdout/stderr kept (the tail). @default 16384 */
  outputTailBytes?: number;
}

/** The same shape as a command's result: clients treat both alike. */
export type ContainerResult = CommandResult;

/** How long to wait for the output stream to end once the container has stopped. */
const OUTPUT_DRAIN_MS = 2000;

export class ContainerExecutor implements Executor<ContainerSpec> {
  readonly kind = 'container';
  private readonly outputTailBytes: number;
  private readonly killGraceSec: number;
  private readonly log: Logger;

  constructor(private readonly opts: ContainerExecutorOptions) {
    this.outputTailBytes = opts.outputTailBytes ?? 16384;
    this.killGraceSec = Math.ceil((opts.killGraceMs ?? 2000) / 1000);
    this.log = opts.logger.child({ component: 'container-executor' });
  }

  async run(spec: ContainerSpec, _payload: Record<string, string>, ctx: ExecutionContext): Promise<ContainerResult> {
    if (spec.network && !this.opts.allowNetwork) {
      const why = 'containers may not have a network on this pool (executors.container.allowNetwork is off)';
      throw new TaskError('task_failed', `executor.container.network: ${why}`, { retryable: false });
    }
    const mounts = await this.resolveMounts(spec.mounts);
    if (ctx.signal.aborted) throw abortError(ctx.signal.reason, 'container cancelled');
    const { docker } = this.opts;

    // A run of this task on a pool that died may have left its container running.
    await this.removeTaskContainers(ctx.taskId);

    const networkMode = this.opts.networkMode ?? 'bridge';
    const request: ContainerRequest = { image: spec.image, network: spec.network, networkMode, gpu: ctx.gpu };
    let container: Docker.Container;
    try {
      container = await docker.api.createContainer(
        containerCreateOptions(
          spec,
          { taskId: ctx.taskId, taskClass: ctx.taskClass, attempt: ctx.attempt, env: ctx.env, gpu: ctx.gpu, mounts },
          { ...this.opts, tmpfsBytes: this.opts.tmpfsBytes ?? 64 << 20, networkMode },
        ),
      );
    } catch (err) {
      throw containerEngineError('creating the container', err, request);
    }

    const stdout = new OutputTail(this.outputTailBytes);
    const stderr = new OutputTail(this.outputTailBytes);
    let stoppedByUs = false;
    const stop = (): void => {
      stoppedByUs = true;
      container.stop({ t: this.killGraceSec }).catch((err: unknown) => {
        // 304: not running (any more); 404: already gone.
        if (dockerStatus(err) === 304 || dockerStatus(err) === 404) return;
        // Anything else: kill it by removing it, or the wait below could last forever.
        this.log.warn({ err, taskId: ctx.taskId }, 'could not stop a container: removing it');
        docker.remove(container.id).catch(() => undefined);
      });
    };
    try {
      const output = await container.attach({ stream: true, stdout: true, stderr: true });
      const ended = new Promise<void>((resolve) => {
        output.once('end', resolve);
        output.once('close', resolve);
        output.once('error', () => resolve());
      });
      const out = new PassThrough().on('data', (c: Buffer) => {
        stdout.push(c);
        ctx.output?.write('stdout', c);
      });
      const err = new PassThrough().on('data', (c: Buffer) => {
        stderr.push(c);
        ctx.output?.write('stderr', c);
      });
      docker.api.modem.demuxStream(output, out, err);

      if (ctx.signal.aborted) throw abortError(ctx.signal.reason, 'container cancelled');
      ctx.signal.addEventListener('abort', stop, { once: true });
      const started = performance.now();
      try {
        await container.start();
      } catch (e) {
        throw containerEngineError('starting the container', e, request);
      }
      // An abort that landed while the start was in flight stopped nothing: stop it (again) now.
      if (ctx.signal.aborted) stop();
      const waited = (await container.wait()) as { StatusCode: number };
      const durationMs = performance.now() - started;
      if (!(await settlesWithin(ended, OUTPUT_DRAIN_MS))) (output as unknown as { destroy?(): void }).destroy?.();
      const state = (await container.inspect()).State;
      const detail = { exitCode: waited.StatusCode, stdout: stdout.toString(), stderr: stderr.toString() };

      if (stoppedByUs) throw abortError(ctx.signal.reason, 'container cancelled', detail);
      if (waited.StatusCode !== 0 && state.OOMKilled) {
        // The same limit would kill it again: retrying cannot help. (A container whose main
        // process survived the kill of another one and exited 0 has succeeded.)
        const limit = spec.memoryBytes || this.opts.defaultMemoryBytes;
        throw new TaskError('task_failed', `container ran out of memory (limit ${limit} bytes) and was killed`, {
          retryable: false,
          detail: { ...detail, oomKilled: true },
        });
      }
      if (waited.StatusCode !== 0) {
        throw new TaskError('task_failed', `container exited with code ${waited.StatusCode}`, { retryable: true, detail });
      }
      return { exitCode: 0, stdout: detail.stdout, stderr: detail.stderr, durationMs };
    } finally {
      ctx.signal.removeEventListener('abort', stop);
      await docker
        .remove(container.id)
        .catch((err: unknown) => this.log.warn({ err, taskId: ctx.taskId, container: container.id }, 'could not remove a container'));
    }
  }

  /**
   * Bind mounts with their host paths resolved on this host: a path under an allowed directory
   * may be, or pass through, a symbolic link to anywhere, which Docker would follow.
   */
  private async resolveMounts(mounts: ContainerSpec['mounts']): Promise<Docker.MountSettings[]> {
    if (mounts.length === 0) return [];
    const allowed: string[] = [];
    for (const dir of this.opts.allowedMounts ?? []) allowed.push(await realpath(dir).catch(() => dir));
    return Promise.all(
      mounts.map(async (m, i) => {
        const field = `executor.container.mounts[${i}].host_path`;
        let source: string;
        try {
          source = await realpath(m.hostPath);
        } catch (err) {
          throw new TaskError('task_failed', `${field}: "${m.hostPath}" cannot be used on this pool (${(err as NodeJS.ErrnoException).code ?? err})`, {
            retryable: false,
          });
        }
        if (!pathAllowed(source, allowed)) {
          throw new TaskError('task_failed', `${field}: "${m.hostPath}" resolves to "${source}", not under executors.container.allowedMounts on this pool`, {
            retryable: false,
          });
        }
        return { Type: 'bind', Source: source, Target: m.containerPath, ReadOnly: !m.writable } as Docker.MountSettings;
      }),
    );
  }

  /** The task stalled out: no run of it is left, so none of its containers is either. */
  async abandon(taskId: string): Promise<void> {
    await this.removeTaskContainers(taskId);
  }

  private async removeTaskContainers(taskId: string): Promise<void> {
    let found: Docker.ContainerInfo[];
    try {
      found = await this.opts.docker.containersLabelled({ [CONTAINER_LABELS.prefix]: this.opts.prefix, [CONTAINER_LABELS.taskId]: taskId });
    } catch (err) {
      throw containerEngineError('looking for containers of an earlier run', err);
    }
    for (const c of found) {
      this.log.info({ taskId, container: c.Id, pool: c.Labels[CONTAINER_LABELS.poolId] }, 'removing a container an earlier run of this task left behind');
      await this.opts.docker.remove(c.Id).catch((err: unknown) => {
        throw containerEngineError('removing a container of an earlier run', err);
      });
    }
  }
}
