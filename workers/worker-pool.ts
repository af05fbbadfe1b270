/**
 * A worker pool: one BullMQ Worker per class it serves, all sharing the executors. Any number
 * of pools on any number of machines can serve the same classes; BullMQ's locks give each task
 * to one pool at a time, and its stall checker hands a dead pool's tasks to the others.
 *
 * Lifecycle: start() registers the pool and starts taking tasks; close() stops taking tasks,
 * lets running ones finish for `graceMs`, hands back what is still running, then releases
 * everything. A drain (DrainPool, src/pools/pool-registry.ts) pauses the Workers: no new tasks,
 * the running ones finish without a time limit; then the pool stays up idle, or, asked to exit,
 * tells its owner (`onDrainedExit`), whose close() finds nothing running.
 */
import type { Job, Worker } from 'bullmq';
import type { RedisClient } from '../src/redis/redis-client.js';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { ConfigError, executorPolicyOf, type Config } from '../src/config/config.js';
import { FeedWriter } from '../src/feeds/feed-writer.js';
import type { Logger } from '../src/logging/logger.js';
import { createOwnRedis, createRedis } from '../src/redis/connection.js';
import type { Keys } from '../src/store/keys.js';
import { keysFor } from '../src/store/keys-for.js';
import { poolHeartbeat } from '../src/store/pools/pool-heartbeat.js';
import { poolLeft } from '../src/store/pools/pool-left.js';
import { poolRejoined } from '../src/store/pools/pool-rejoined.js';
import { lastAttempt, type TaskJobData } from '../src/tasks/task-spec.js';
import { jobExecutorKind } from '../src/store/codecs/job-data.js';
import { cleanEnvironment } from './executors/command.js';
import { createPoolExecutors } from './executors/pool-executors.js';
import type { RunnerExecutor } from './executors/runner.js';
import { JobAdmission } from './job-admission.js';
import { canRunAs, poolUid, poolUserName, resolveRunAs, type RunAsUser } from './run-as.js';
import type { Executor } from './executors/executor.js';
import { reapOrphanContainers } from './container-reaper.js';
import { poolConcurrencyOverrides } from '../src/tasks/class-controls.js';
import { DockerClient } from '../src/docker/docker-client.js';
import { PoolGuard } from './pool-guard/pool-guard.js';
import { reapOrphanGroups } from './pool-guard/orphan-group-reaper.js';
import { createTaskProcessor, HandBack } from './task-processor.js';
import { AttemptTracing } from './attempt-tracing.js';
import { Tracing } from '../src/tracing/tracing.js';
import { settlesWithin } from './executors/settles-within.js';
import { TaskError } from '../src/errors/errors.js';
import { gpuDevices } from './gpu-devices.js';
import { GpuSlots } from './gpu-slots.js';
import { createMetricsRegistry } from '../src/monitoring/metrics-registry.js';
import { ProbeRoutes } from '../src/monitoring/probe-routes.js';
import { HttpListener } from '../src/http/http-listener.js';
import { isLoopback, splitHostPort } from '../src/config/listen-address.js';
import { probeHandler } from '../src/http/probe-handler.js';
import { PoolMetrics } from './pool-metrics.js';
import { defineTaskCommands, PendingOutcomes, PendingStarts, taskBackend } from '../src/store/bullmq/task-backend.js';
import { TaskWorker } from './run-locks.js';
import { AttemptLogs } from './attempt-log.js';
import { TaskLogStore } from '../src/tasks/task-log-store.js';
import { encodePoolFacts, type DrainMode } from '../src/pools/pool-facts.js';
import { VERSION } from '../src/version.js';
import { assertBullmqScripts } from '../src/store/bullmq/startup-guard.js';
import { workerConcurrency } from '../src/tasks/partition-share.js';

const STALLED_LIMIT_REASON = 'job stalled more than allowable limit';
/** How often a stopping pool looks whether anything still runs. */
const IDLE_CHECK_MS = 100;
/** Stopping with nothing running: how long the Workers may take to close their connections. */
const IDLE_CLOSE_MS = 2_000;
/** The pool's last writes (leaving the registry) and its connections' QUIT. */
const FAREWELL_MS = 1_000;
/** SIGTERM to SIGKILL, for command tasks stopped by the pool and by its guard alike. */
const COMMAND_KILL_GRACE_MS = 2_000;

export interface WorkerPoolOptions {
  config: Config;
  redisUrl: string;
  logger: Logger;
  /**
   * The pool process's environment: command tasks and Slurm jobs get only its minimal base and
   * their class's pass-through names from it. @default process.env
   */
  env?: NodeJS.ProcessEnv;
  /**
   * Called once when a drain asked the pool to exit and its last running task has ended; the
   * process entry closes the pool and exits 0. Absent: the pool stays up idle.
   */
  onDrainedExit?(): void;
}

export class WorkerPool {
  readonly id: string;
  private readonly keys: Keys;
  private readonly log: Logger;
  private readonly tracing: Tracing;
  private redis?: RedisClient;
  private bullRedis?: RedisClient;
  private subscriber?: RedisClient;
  /**
   * Per class, one Worker per partition (by partition number; one for an unpartitioned class). A
   * partitioned class's concurrency is split over its partitions' Workers (workerConcurrency).
   */
  private readonly workers = new Map<string, TaskWorker<TaskJobData>[]>();
  private executors = new Map<string, Executor<unknown>>();
  private readonly shutdown = new AbortController();
  private heartbeat?: NodeJS.Timeout;
  private busy = 0;
  private closing?: Promise<void>;
  /** The GPUs found at start, when a class served uses GPUs. */
  private gpus: readonly string[] = [];
  /** Concurrency per class from config, flags and GPUs (set at start); `live` is what runs now. */
  private configured = new Map<string, number>();
  private readonly live = new Map<string, number>();
  private metricsListener?: HttpListener;
  private guard?: PoolGuard;
  private metrics?: PoolMetrics;
  private startedAtMs = 0;
  /** The drain applied: "" while taking tasks. */
  private drainMode: DrainMode | '' = '';
  private exitAnnounced = false;

  constructor(private readonly opts: WorkerPoolOptions) {
    this.id = opts.config.pool.id;
    this.tracing = Tracing.create(opts.config.tracing, 'orchestrator-pool', opts.logger);
    this.keys = keysFor(opts.config.redis.prefix, opts.redisUrl, opts.config.classes);
    this.log = opts.logger.child({ component: 'pool', poolId: this.id });
  }

  /** Concurrency per class this pool serves, as it runs now (run-time limits applied). */
  get concurrency(): ReadonlyMap<string, number> {
    return this.live.size ? this.live : this.configuredConcurrency();
  }

  /**
   * Concurrency per class from config and flags. A GPU class runs one task per GPU: its
   * concurrency is the number of GPUs, or the pool's configured figure when that is lower.
   */
  private configuredConcurrency(): Map<string, number> {
    const { config } = this.opts;
    return new Map(
      Object.entries(config.pool.classes).map(([name, n]) => {
        const cls = config.classes.get(name)!;
        return [name, cls.usesGpu ? Math.min(n || this.gpus.length, this.gpus.length) : n || cls.concurrency];
      }),
    );
  }
  /** The classes served that use GPUs. */
  private get gpuClasses(): Set<string> {
    const { config } = this.opts;
    return new Set(Object.keys(config.pool.classes).filter((name) => config.classes.get(name)!.usesGpu));
  }

  /**
   * Finds the GPUs when a class served needs them. Throws ConfigError (the process exits 2)
   * when there are none: such a pool could take tasks it can never run.
   */
  private async findGpus(): Promise<void> {
    const { config } = this.opts;
    const gpuClasses = [...this.gpuClasses];
    if (gpuClasses.length === 0) return;
    this.gpus = await gpuDevices({ configured: config.pool.gpus, logger: this.log });
    if (this.gpus.length === 0) {
      const where = config.pool.gpus === undefined ? 'nvidia-smi found none' : 'pool.gpus (ORCHESTRATOR_POOL_GPUS) is empty';
      throw new ConfigError(
        `pool.classes: this pool serves ${gpuClasses.join(', ')}, which needs GPUs, but it has none (${where}); set pool.gpus or ORCHESTRATOR_POOL_GPUS`,
      );
    }
    for (const name of gpuClasses) {
      const n = config.pool.classes[name]!;
      if (n > this.gpus.length)
        this.log.warn({ taskClass: name, configured: n, gpus: this.gpus.length }, 'concurrency capped at the number of GPUs: one task per GPU');
    }
    this.log.info({ gpus: this.gpus }, 'GPUs');
  }

  /** Where this pool serves /metrics, /health and /ready (after start). */
  get metricsAddress(): string {
    return this.metricsListener?.address ?? '';
  }

  async start(): Promise<void> {
    const { config } = this.opts;
    // Our scripts call BullMQ's by position: refuse a BullMQ whose scripts are not the recorded ones.
    assertBullmqScripts();
    await this.findGpus();
    this.configured = this.configuredConcurrency();
    for (const [name, n] of this.configured) this.live.set(name, n);
    // Two connections: BullMQ's and ours (see src/redis/connection.ts).
    const redis = (this.redis = createOwnRedis(this.opts.redisUrl, `orq-pool-${this.id}`));
    const registry = createMetricsRegistry();
    const metrics = (this.metrics = new PoolMetrics({ registry, concurrency: this.concurrency }));
    this.startedAtMs = Date.now();
    this.metricsListener = new HttpListener({ addr: config.pool.metricsAddr, handler: probeHandler(new ProbeRoutes({ registry, ping: () => redis.ping() })) });
    await this.metricsListener.start();
    if (config.pool.metricsAllowUnauthenticated && !isLoopback(splitHostPort(config.pool.metricsAddr).host))
      this.log.warn(
        { addr: this.metricsAddress },
        'pool.metricsAllowUnauthenticated = true: /metrics, /health and /ready are served without credentials beyond loopback',
      );
    const bullRedis = (this.bullRedis = createRedis(this.opts.redisUrl, { connectionName: `orq-pool-${this.id}-workers` }));
    const feeds = new FeedWriter({ redis, keys: this.keys, eventsMaxLen: config.streams.eventsMaxLen, resultsMaxLen: config.streams.resultsMaxLen });
    const classes = [...this.concurrency.keys()];
    const docker = new DockerClient({ socketPath: config.docker.socketPath });
    const runAs = this.runAsUsers(classes);
    const guard = this.startGuard(classes);
    const poolEnv = this.opts.env ?? process.env;
    const classEnv = new Map(classes.map((c) => [c, cleanEnvironment(poolEnv, config.classes.get(c)!.policy.envPassthrough, runAs.get(c))]));
    this.executors = await createPoolExecutors({
      config,
      poolId: this.id,
      redis,
      keys: this.keys,
      docker,
      logger: this.log,
      classes,
      classEnv,
      runAs,
      guard,
      commandKillGraceMs: COMMAND_KILL_GRACE_MS,
      registry,
    });
    const outcomes = new PendingOutcomes({ eventsMaxLen: config.streams.eventsMaxLen, resultsMaxLen: config.streams.resultsMaxLen });
    const started = new PendingStarts();
    defineTaskCommands(bullRedis);
    const backend = taskBackend({ keys: this.keys, outcomes, starts: started, eventsMaxLen: config.streams.eventsMaxLen, poolId: this.id });
    // Spans of each attempt and executor run; with tracing off, the processor and executors as they are.
    const attempts = new AttemptTracing(this.tracing, this.id);
    const untraced = createTaskProcessor({
      redis,
      keys: this.keys,
      feeds,
      poolId: this.id,
      executors: attempts.executors(this.executors),
      admission: new JobAdmission({ policy: executorPolicyOf(config), classes: config.classes, runAs }),
      classes: config.classes,
      logger: this.log,
      shutdownSignal: this.shutdown.signal,
      abort: (taskClass, taskId, token, reason) => this.workers.get(taskClass)?.[this.keys.partitionOf(taskClass, taskId)]?.cancelRun(taskId, token, reason),
      gpus: this.gpus.length > 0 ? { classes: this.gpuClasses, slots: new GpuSlots(this.gpus) } : undefined,
      onBusy: (n) => {
        this.busy = n;
        this.maybeDrained();
      },
      draining: () => this.drainMode !== '',
      observer: metrics,
      eventsMaxLen: config.streams.eventsMaxLen,
      failureTailBytes: config.pool.failureTailBytes,
      outcomes,
      started,
      logs: new AttemptLogs({ store: new TaskLogStore(redis, this.keys), limits: config.logs, logger: this.log }),
    });
    const processor = attempts.processor(untraced);

    // Cancel requests reach every pool; the one running the task aborts it.
    this.subscriber = createRedis(this.opts.redisUrl, { connectionName: `orq-pool-${this.id}-cancel` });
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.keys.poolDrainChannel) {
        if (message === this.id) void this.readDrain();
        return;
      }
      if (channel === this.keys.limitsChannel) {
        if (this.workers.has(message)) void this.applyLimits([message]);
        return;
      }
      const tab = message.indexOf('\t');
      const [taskId, reason] = tab < 0 ? [message, 'requested'] : [message.slice(0, tab), message.slice(tab + 1)];
      let running = false;
      for (const w of this.allWorkers()) running = this.cancelRunning(taskId, new TaskError('cancelled', `cancelled: ${reason}`), w) || running;
      // Handed to this pool by a take (its "started" event written, so the caller sees it
      // running) but not yet given to the processor: no signal to abort yet, so its start reads
      // the cancel there (task-processor.ts). Dropped here, the task would run to its end.
      if (!running) started.cancelPending(taskId, reason);
    });
    await this.subscriber.subscribe(this.keys.cancelChannel, this.keys.limitsChannel, this.keys.poolDrainChannel);
    // A drain asked of this id's last life does not hold back this one: a restart serves again.
    // Nor does the stop time a previous life of this id left in its hash.
    await poolRejoined(redis, this.keys)(this.id);

    for (const [name, concurrency] of this.concurrency) {
      const cls = config.classes.get(name)!;
      const partitions = this.keys.partitions(name);
      this.workers.set(name, []);
      for (const p of partitions) {
        // Lock renewal per run (run-locks.ts): a rerun of a task this pool lost and took again
        // keeps its lock when the old run ends, and the old run is stopped at once.
        const worker = new TaskWorker<TaskJobData>(
          name,
          processor,
          {
            connection: bullRedis,
            prefix: this.keys.queuePrefixOf(name, p),
            name: this.id,
            concurrency: workerConcurrency(concurrency, partitions.length, p),
            lockDuration: cls.lockDurationMs,
            stalledInterval: cls.stalledIntervalMs,
            maxStalledCount: cls.maxStalledCount,
            // Finished jobs stay: the orchestrator's retention sweeper removes them together with
            // the task's own entries (src/tasks/task-retention.ts), which BullMQ would leave behind.
            removeOnComplete: false,
            removeOnFail: false,
            autorun: false,
          } as ConstructorParameters<typeof Worker>[2],
          backend,
        );
        worker.on('error', (err) => this.log.error({ err, taskClass: name, partition: p }, 'worker error'));
        // Tasks a dead pool left behind are found by whichever pool's stall checker runs first; its
        // script writes the `stalled` event as it queues the task again (src/store/bullmq/task-backend.ts).
        worker.on('failed', (job, err) => {
          if (job && err?.message === STALLED_LIMIT_REASON) void this.onStalledOut(job, feeds);
        });
        this.workers.get(name)!.push(worker);
      }
    }
    await this.reapContainers(docker, redis);
    await this.applyLimits([...this.workers.keys()]);
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat(), config.pool.heartbeatMs);
    this.heartbeat.unref();
    for (const w of this.allWorkers()) {
      w.run().catch((err) => this.log.error({ err }, 'worker stopped'));
    }
    this.log.info({ classes: Object.fromEntries(this.concurrency), metrics: this.metricsAddress }, 'pool started');
  }

  /**
   * Applies the per-pool concurrency set at run time (SetClassLimits) to the Workers of
   * `classes`, or their configured concurrency where none is set. BullMQ takes a new concurrency
   * on a running Worker: more slots fill at once, fewer drain as running tasks end.
   */
  private async applyLimits(classes: string[]): Promise<void> {
    try {
      const overrides = await poolConcurrencyOverrides(this.redis!, this.keys, classes);
      for (const name of classes) {
        const workers = this.workers.get(name)!;
        let n = overrides.get(name) || this.configured.get(name)!;
        // A GPU class never runs more tasks than the pool has GPUs.
        if (this.opts.config.classes.get(name)!.usesGpu) n = Math.min(n, this.gpus.length);
        if (this.live.get(name) !== n || workers.some((w, p) => w.concurrency !== workerConcurrency(n, workers.length, p))) {
          workers.forEach((w, p) => (w.concurrency = workerConcurrency(n, workers.length, p)));
          this.live.set(name, n);
          this.log.info({ taskClass: name, concurrency: n }, 'concurrency changed');
        }
      }
    } catch (err) {
      this.log.warn({ err }, 'could not read class limits');
    }
  }

  /**
   * The user each served class's command tasks run as (policy.command.runAs). ConfigError when
   * this pool cannot become that user; a warning where raw commands are on but will be refused
   * (a root pool without an unprivileged runAs).
   */
  private runAsUsers(classes: string[]): Map<string, RunAsUser> {
    const users = new Map<string, RunAsUser>();
    const uid = poolUid();
    for (const name of classes) {
      const p = this.opts.config.classes.get(name)!.policy;
      if (!p.executors.includes('command')) continue;
      const key = `classes.${name}.policy.command.runAs`;
      if (p.command.runAs) {
        const user = resolveRunAs(p.command.runAs, key);
        if (!canRunAs(user, uid))
          throw new ConfigError(`config key ${key}: this pool runs as ${poolUserName()}, not root, and cannot run tasks as "${p.command.runAs}"`);
        users.set(name, user);
      }
      if (uid === 0 && p.command.raw && !(users.get(name)?.uid ?? 0))
        this.log.warn({ taskClass: name }, `raw command tasks of ${name} will be refused: this pool runs as root and ${key} names no unprivileged user`);
    }
    return users;
  }

  /**
   * Before taking tasks: kill the command tasks that killed pools on this host left running
   * with nobody watching, then start this pool's guard when a class it serves may run commands
   * or containers, which would outlive the pool (see workers/pool-guard/).
   */
  private startGuard(classes: string[]): PoolGuard | undefined {
    const { config } = this.opts;
    const runDir = resolve(config.pool.runDir);
    try {
      const reaped = reapOrphanGroups({ runDir, logger: this.log });
      if (reaped > 0) this.log.info({ reaped, runDir }, 'killed command tasks of pools that are gone');
    } catch (err) {
      this.log.warn({ err, runDir }, 'could not look for orphaned command tasks');
    }
    const may = (kind: 'command' | 'container') => classes.some((c) => config.classes.get(c)!.policy.executors.includes(kind));
    if (!may('command') && !may('container')) return undefined;
    this.guard = new PoolGuard({
      runDir,
      poolId: this.id,
      killGraceMs: COMMAND_KILL_GRACE_MS,
      docker: may('container') ? { socketPath: config.docker.socketPath, prefix: config.redis.prefix } : undefined,
      logger: this.log,
    });
    this.guard.start();
    return this.guard;
  }

  /** Before taking tasks: remove containers that dead pools (or this id's last life) left behind. */
  private async reapContainers(docker: DockerClient, redis: RedisClient): Promise<void> {
    if (!(await docker.ping())) {
      this.log.info({ socket: docker.opts.socketPath }, 'no Docker engine answers: container tasks fail on this pool');
      return;
    }
    try {
      const removed = await reapOrphanContainers({
        docker,
        redis,
        keys: this.keys,
        prefix: this.opts.config.redis.prefix,
        poolId: this.id,
        // Far beyond the 3 beats that make a pool look gone to Health: a slow pool keeps its containers.
        deadAfterMs: Math.max(10 * this.opts.config.pool.heartbeatMs, 30_000),
        logger: this.log,
      });
      if (removed > 0) this.log.info({ removed }, 'removed containers of pools that are gone');
    } catch (err) {
      this.log.warn({ err }, 'could not look for orphaned containers');
    }
  }

  /**
   * Aborts BullMQ's signal of the running attempt of `taskId` with `reason` (the processor reads
   * it back: a TaskError says cancelled or timed out, a HandBack hands the task back). BullMQ
   * types the reason as a string but passes it through as it is.
   */
  private cancelRunning(taskId: string, reason: Error, worker: TaskWorker<TaskJobData>): boolean {
    // Every run of the task on this pool: an older one that lost its lock is being stopped anyway.
    return worker.cancelJob(taskId, reason as unknown as string);
  }

  /** Every Worker, each class's partitions' included. */
  private allWorkers(): TaskWorker<TaskJobData>[] {
    return [...this.workers.values()].flat();
  }

  private async onStalledOut(job: Job<TaskJobData>, feeds: FeedWriter): Promise<void> {
    const now = Date.now();
    const base = {
      taskId: job.id!,
      taskClass: job.queueName,
      // BullMQ fails a stalled-out job when a worker next takes it, counting that as an attempt
      // made: the attempt that stalled is the last one counted.
      attempt: lastAttempt(job.data, job.attemptsMade),
      workflowId: job.data.workflowId,
      scheduleId: job.data.scheduleId,
      workerId: this.id,
    };
    try {
      await feeds.final(
        { ...base, type: 'failed', atMs: now, detail: STALLED_LIMIT_REASON },
        { ...base, state: 'failed', atMs: now, error: STALLED_LIMIT_REASON, errorCode: 'task_failed', durationMs: 0 },
      );
    } catch (err) {
      this.log.warn({ err, taskId: job.id }, 'could not record a task that stalled out');
    }
    try {
      await this.executors.get(jobExecutorKind(job) ?? '')?.abandon?.(base.taskId, base.attempt);
    } catch (err) {
      this.log.warn({ err, taskId: job.id }, 'could not stop what a stalled-out task left running');
    }
  }

  /**
   * Announces the pool (pool-facts.ts has the hash's contract), trims pools gone longer than
   * pool.goneListedMs from the lists, and reads back a drain requested of it (a pool that
   * missed the drain message finds it here).
   */
  private async beat(): Promise<void> {
    if (!this.redis) return;
    const now = Date.now();
    const { heartbeatMs, goneListedMs } = this.opts.config.pool;
    const facts = encodePoolFacts({
      host: hostname(),
      pid: process.pid,
      version: VERSION,
      classes: Object.fromEntries(this.concurrency),
      busy: this.busy,
      busyByClass: this.metrics?.runningByClass() ?? {},
      metricsAddr: this.metricsAddress,
      lastHeartbeatMs: now,
      startedAtMs: this.startedAtMs,
      draining: this.drainMode,
      runners: (this.executors.get('runner') as Partial<Pick<RunnerExecutor, 'statuses'>> | undefined)?.statuses?.() ?? [],
    });
    try {
      this.applyDrain(await poolHeartbeat(this.redis, this.keys)(this.id, { nowMs: now, facts, goneListedMs, heartbeatMs }));
    } catch (err) {
      this.log.warn({ err }, 'heartbeat failed');
    }
  }

  private async readDrain(): Promise<void> {
    try {
      this.applyDrain(await this.redis!.hget(this.keys.poolDrain, this.id));
    } catch (err) {
      this.log.warn({ err }, 'could not read the drain requested');
    }
  }

  /**
   * Applies the drain requested ("stay" | "exit"), or, with none (ResumePool cleared it), takes
   * tasks again after a drain without exit. Anything else is ignored.
   */
  private applyDrain(mode: string | null | undefined): void {
    if (this.closing) return;
    if (mode === null && this.drainMode === 'stay') {
      this.drainMode = '';
      this.metrics?.setDraining(false);
      for (const w of this.allWorkers()) void w.resume();
      this.log.info('resumed: taking tasks again');
      void this.beat();
      return;
    }
    if (mode !== 'stay' && mode !== 'exit') return;
    if (this.drainMode === mode || this.drainMode === 'exit') return;
    const first = this.drainMode === '';
    this.drainMode = mode;
    this.metrics?.setDraining(true);
    if (first) {
      // Paused, a Worker takes no new job; the running ones go on and finish as usual.
      for (const w of this.allWorkers()) void w.pause(true).catch((err: unknown) => this.log.warn({ err }, 'could not pause a worker'));
    }
    this.log.info({ running: this.busy, exitWhenDrained: mode === 'exit' }, 'draining: taking no new tasks');
    void this.beat();
    this.maybeDrained();
  }

  private maybeDrained(): void {
    if (this.drainMode !== 'exit' || this.busy > 0 || this.exitAnnounced || this.closing) return;
    this.exitAnnounced = true;
    this.log.info('drained: exiting as asked');
    this.opts.onDrainedExit?.();
  }

  /**
   * Stop taking tasks; wait up to `graceMs` for running ones, then hand them back to the queue
   * (no attempt used) and wait for that to land.
   */
  close(graceMs = this.opts.config.pool.shutdownGraceMs): Promise<void> {
    this.closing ??= this.doClose(graceMs);
    return this.closing;
  }

  private async doClose(graceMs: number): Promise<void> {
    this.log.info({ graceMs, running: this.busy }, 'pool stopping');
    clearInterval(this.heartbeat);
    const closed = Promise.all(this.allWorkers().map((w) => w.close())).then(() => undefined);
    // Nothing running: nothing needs the grace. (A Worker whose Redis is away may never finish
    // closing its connections: the wait for that is bounded below.)
    let idleTimer: NodeJS.Timeout | undefined;
    const idle = new Promise<'idle'>((resolve) => {
      const check = () => (this.busy === 0 ? resolve('idle') : (idleTimer = setTimeout(check, IDLE_CHECK_MS)));
      check();
    });
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
    const closedOrGrace = () => Promise.race([closed.then(() => 'closed' as const), graceOver]);
    let outcome: 'closed' | 'idle' | 'timeout' | 'unclosed' = await Promise.race([closed.then(() => 'closed' as const), idle, graceOver]);
    if (outcome === 'idle' && !(await settlesWithin(closed, IDLE_CLOSE_MS))) {
      // A task taken just now (its run has the rest of the grace), or Redis is away.
      outcome = this.busy > 0 ? await closedOrGrace() : 'unclosed';
    }
    clearTimeout(timer);
    clearTimeout(idleTimer);
    if (outcome === 'timeout') {
      this.log.warn({ running: this.busy }, 'grace period over: handing running tasks back');
      this.shutdown.abort();
      for (const w of this.allWorkers()) w.cancelAllJobs(new HandBack() as unknown as string);
      if (!(await settlesWithin(closed, this.opts.config.pool.handBackTimeoutMs))) outcome = 'unclosed';
    }
    if (outcome === 'unclosed') {
      // Redis does not answer: a task not handed back keeps its lock until it expires, then
      // another pool runs it again (README "Delivery guarantees"), as after a crash.
      this.log.warn({ running: this.busy }, "Redis did not take the pool's last writes: stopping without them");
    }
    await Promise.all([...this.executors.values()].map((e) => e.close?.()));
    // After the executors: every command and container has ended, so the guard has nothing to stop.
    await this.guard?.close();
    if (this.redis) {
      await settlesWithin(
        // Listed as stopped for pool.goneListedMs (src/pools/pool-registry.ts).
        poolLeft(this.redis, this.keys)(this.id, Date.now(), this.opts.config.pool.goneListedMs).then(
          () => undefined,
          () => undefined,
        ),
        FAREWELL_MS,
      );
    }
    this.subscriber?.disconnect();
    await this.metricsListener?.close();
    const quit = Promise.all([this.redis?.quit(), this.bullRedis?.quit()]).then(
      () => undefined,
      () => undefined,
    );
    if (!(await settlesWithin(quit, FAREWELL_MS))) {
      this.redis?.disconnect();
      this.bullRedis?.disconnect();
    }
    // Last: the spans of the attempts that ended during the close are sent too.
    await this.tracing.close();
    this.log.info('pool stopped');
  }
}
