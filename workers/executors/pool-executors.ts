/**
 * The pool's side of each executor kind: the factory that builds the executor running it, in
 * one table keyed by kind. A kind added to EXECUTOR_KINDS (src/executors/executor-kind.ts) is a
 * compile error here until the pool can run it, so a task of a known kind never meets a pool
 * that has no executor for it. The front end's side of a kind is src/executors/<kind>.ts.
 */
import type { Registry } from 'prom-client';
import type { RedisClient } from '../../src/redis/redis-client.js';
import { resolve } from 'node:path';
import type { Config } from '../../src/config/config.js';
import type { DockerClient } from '../../src/docker/docker-client.js';
import type { ExecutorKind } from '../../src/executors/executor-kind.js';
import type { ExecutorSpecOf } from '../../src/executors/executor-spec.js';
import type { Logger } from '../../src/logging/logger.js';
import type { Keys } from '../../src/store/keys.js';
import { SlurmCli } from '../../src/slurm/slurm-cli.js';
import type { PoolGuard } from '../pool-guard/pool-guard.js';
import type { RunAsUser } from '../run-as.js';
import { SandboxRunner } from '../sandbox/sandbox-runner.js';
import { SlurmJobIds } from '../slurm-job-ids.js';
import { CommandExecutor } from './command.js';
import { ContainerExecutor } from './container.js';
import { lazyExecutor, type Executor } from './executor.js';
import { HandlerExecutor } from './handler.js';
import { HttpExecutor } from './http.js';
import { SlurmExecutor } from './slurm.js';

/** What the factories build from: the pool's config, connections and per-class settings. */
export interface PoolExecutorOptions {
  config: Config;
  poolId: string;
  redis: RedisClient;
  keys: Keys;
  docker: DockerClient;
  logger: Logger;
  /** The classes this pool serves. */
  classes: readonly string[];
  /** Each served class's environment for command tasks (cleanEnvironment). */
  classEnv: ReadonlyMap<string, Record<string, string>>;
  /** The user each served class's command tasks run as, where one is set. */
  runAs: ReadonlyMap<string, RunAsUser>;
  /** The pool's guard, when a served class may run commands or containers. */
  guard: PoolGuard | undefined;
  /** SIGTERM to SIGKILL for command tasks. */
  commandKillGraceMs: number;
  /** The pool's metrics registry, for executors that keep series of their own (runner calls). */
  registry?: Registry;
}

export type PoolExecutorFactory<K extends ExecutorKind> = (o: PoolExecutorOptions) => Executor<ExecutorSpecOf<K>> | Promise<Executor<ExecutorSpecOf<K>>>;

export const POOL_EXECUTORS = {
  handler: ({ config, classes }) => {
    const inProcess = new Set(classes.filter((c) => config.classes.get(c)!.inProcessHandlers));
    // Worker threads or child processes only when some served class runs handlers out of process.
    const needsSandbox = classes.some((c) => !inProcess.has(c));
    return new HandlerExecutor({
      handlersDir: config.pool.handlersDir,
      testHandlers: config.executors.handler.testHandlers,
      sandbox: needsSandbox ? new SandboxRunner({ useWorkerThreads: config.pool.sandbox === 'thread' }) : undefined,
      inProcessClasses: inProcess,
    });
  },
  command: (o) =>
    new CommandExecutor({
      killGraceMs: o.commandKillGraceMs,
      environment: (c) => o.classEnv.get(c)!,
      runAs: (c) => o.runAs.get(c),
      guard: o.guard,
    }),
  http: ({ config }) =>
    new HttpExecutor({
      allowedUrlPrefixes: config.executors.http.allowedUrlPrefixes,
      maxResponseBytes: config.executors.http.maxResponseBytes,
    }),
  container: ({ config, docker, poolId, logger }) => {
    const c = config.executors.container;
    return new ContainerExecutor({
      docker,
      prefix: config.redis.prefix,
      poolId,
      logger,
      allowNetwork: c.allowNetwork,
      allowedMounts: c.allowedMounts,
      networkMode: c.networkMode,
      defaultMemoryBytes: c.defaultMemoryBytes,
      defaultCpuMillis: c.defaultCpuMillis,
      defaultPidsLimit: c.defaultPidsLimit,
      tmpfsBytes: c.tmpfsBytes,
      killGraceMs: c.killGraceMs,
    });
  },
  slurm: ({ config, redis, keys, logger }) => {
    const s = config.executors.slurm;
    return new SlurmExecutor({
      cli: new SlurmCli({
        sbatchPath: s.sbatchPath,
        scontrolPath: s.scontrolPath,
        squeuePath: s.squeuePath,
        scancelPath: s.scancelPath,
        commandTimeoutMs: s.commandTimeoutMs,
      }),
      jobIds: new SlurmJobIds({ redis, keys }),
      prefix: config.redis.prefix,
      spoolDir: resolve(s.spoolDir),
      pollIntervalMs: s.pollIntervalMs,
      defaultPartition: s.defaultPartition,
      outputTailBytes: s.outputTailBytes,
      envPassthrough: (c) => config.classes.get(c)?.policy.envPassthrough ?? [],
      logger,
    });
  },
  runner: async ({ config, classes, registry }) => {
    // Only the runners a served class may use: a pool keeps no channel it will never call.
    const used = new Set(classes.flatMap((c) => config.classes.get(c)!.policy.runner.runners));
    const build = async () => {
      // Loaded here, not at import: it brings gRPC and the runner protocol's code.
      const [{ RunnerExecutor }, { RunnerTargets }] = await Promise.all([import('./runner.js'), import('./runner-targets.js')]);
      const r = config.executors.runner;
      return new RunnerExecutor({
        targets: new RunnerTargets({
          runners: Object.fromEntries(Object.entries(r.runners).filter(([name]) => used.has(name))),
          connectTimeoutMs: r.connectTimeoutMs,
          reconnectMs: r.reconnectMs,
          maxMessageBytes: r.maxMessageBytes,
          registry,
        }),
        classRunners: (c) => config.classes.get(c)?.policy.runner.runners ?? [],
        cancelGraceMs: r.cancelGraceMs,
      });
    };
    // With a runner to call, built at once: it describes its runners for the first heartbeat.
    // With none, built only if a runner task comes, to fail it as it fails when none is configured.
    return used.size > 0 ? build() : lazyExecutor('runner', build);
  },
} as const satisfies { readonly [K in ExecutorKind]: PoolExecutorFactory<K> };

/** One executor of every kind, keyed by kind (the processor looks a job's kind up here). */
export async function createPoolExecutors(o: PoolExecutorOptions): Promise<Map<string, Executor<unknown>>> {
  const made = await Promise.all(
    Object.entries(POOL_EXECUTORS).map(async ([kind, make]) => [kind, (await (make as PoolExecutorFactory<ExecutorKind>)(o)) as Executor<unknown>] as const),
  );
  return new Map(made);
}
