/**
 * The orchestrator process's core: the domain services over one Redis, behind the gRPC server.
 * start() and close() bring it up and down; close() has a grace budget for open calls and
 * streams, then cuts them.
 */
import type { RedisClient } from './redis/redis-client.js';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { executorPolicyOf, type Config } from './config/config.js';
import { eventsTailers, FeedSubscriptions } from './feeds/feed-subscriptions.js';
import type { FeedTailers } from './feeds/feed-tailers.js';
import { StreamAdmission } from './grpc/stream-admission.js';
import { keysFor } from './store/keys-for.js';
import type { TaskEventRecord } from './store/codecs/feed-format.js';
import { GrpcServer } from './grpc/grpc-server.js';
import type { Logger } from './logging/logger.js';
import { createFailFastRedis } from './redis/connection.js';
import { TaskSubmitter } from './tasks/submitter.js';
import { Tracing } from './tracing/tracing.js';
import { ClassControls } from './tasks/class-controls.js';
import { TaskCanceller } from './tasks/task-canceller.js';
import { TaskLister } from './tasks/task-list.js';
import { TaskRetrier } from './tasks/task-retry.js';
import { TaskRetention } from './tasks/task-retention.js';
import { TaskQueues } from './tasks/task-queues.js';
import { WorkflowEngine } from './workflows/workflow-engine.js';
import { WorkflowRuns } from './workflows/workflow-runs.js';
import { createMetricsRegistry } from './monitoring/metrics-registry.js';
import type { ComponentStatus } from './monitoring/system-status.js';
import { GrpcMetrics } from './monitoring/grpc-metrics.js';
import { createReadServices, maxDeliveredBytes } from './read-services.js';
import { InFlightBytes } from './grpc/in-flight-bytes.js';
import { RedisMemoryWatch } from './redis/redis-memory-watch.js';
import { SubmitAdmission } from './grpc/submit-admission.js';
import { SubmitRateLimiter } from './grpc/submit-rate-limit.js';
import { createOperatorHttp, type DashboardLogin, type OperatorHttp } from '../dashboard/operator-http.js';
import { GRPC_ROLES } from './auth/roles.js';
import { grpcSecurity } from './grpc/grpc-security.js';
import { ScheduleRunner } from './schedules/schedule-runner.js';
import { ScheduleService } from './schedules/schedule-service.js';
import { ScheduleStore } from './schedules/schedule-store.js';
import { ScheduleTimers } from './schedules/schedule-timers.js';
import { assertBullmqScripts } from './store/bullmq/startup-guard.js';
import { migrateLegacyTaskIndex } from './tasks/task-index-migration.js';
import { ReplicaWait } from './redis/replica-wait.js';
import { openWriteConnections, type WriteConnections } from './redis/write-connections.js';

export interface OrchestratorOptions {
  config: Config;
  redisUrl: string;
  logger: Logger;
}

/** retention.maxFinishedBytes, else retention.maxFinishedFraction of Redis's maxmemory (as last read); 0: none. */
function finishedBytesBound(config: Config, redisMaxBytes: number): number {
  const { maxFinishedBytes, maxFinishedFraction } = config.retention;
  if (maxFinishedBytes > 0) return maxFinishedBytes;
  return Math.floor(redisMaxBytes * maxFinishedFraction);
}

/** Health's `submissions` component: degraded while Redis memory holds submissions back. */
function memoryComponent(memory: RedisMemoryWatch): ComponentStatus {
  const m = memory.current;
  const mib = (n: number) => `${(n / (1 << 20)).toFixed(1)} MiB`;
  switch (m.state) {
    case 'over':
      return { name: 'submissions', status: 'degraded', detail: `refused: Redis memory ${mib(m.usedBytes)} is above the high-water mark ${mib(m.markBytes)}` };
    case 'under':
      return { name: 'submissions', status: 'serving', detail: `accepted: Redis memory ${mib(m.usedBytes)}, high-water mark ${mib(m.markBytes)}` };
    case 'off':
      return { name: 'submissions', status: 'serving', detail: 'accepted: no Redis memory high-water mark' };
    default:
      return { name: 'submissions', status: 'serving', detail: 'accepted: Redis memory could not be read' };
  }
}

export class Orchestrator {
  private readonly log: Logger;
  private redis?: RedisClient;
  private bullRedis?: RedisClient;
  private writes?: WriteConnections;
  private queues?: TaskQueues;
  /** The class queues on BullMQ's connection of acknowledged writes (queues itself when there is none apart). */
  private queueWrites?: TaskQueues;
  private grpc?: GrpcServer;
  private engine?: WorkflowEngine;
  private feeds?: FeedSubscriptions;
  private eventsTail?: FeedTailers<TaskEventRecord>;
  private http?: OperatorHttp;
  private retention?: TaskRetention;
  private scheduleTimers?: ScheduleTimers;
  private scheduleRunner?: ScheduleRunner;
  private memory?: RedisMemoryWatch;
  private tracing = Tracing.off;

  constructor(private readonly opts: OrchestratorOptions) {
    this.log = opts.logger.child({ component: 'orchestrator' });
  }

  /** The bound gRPC port (after start). */
  get grpcPort(): number {
    return this.grpc?.port ?? 0;
  }

  /** The bound HTTP port of /metrics, /health, /ready and the dashboard (after start). */
  get httpPort(): number {
    return this.http?.port ?? 0;
  }

  /** Where the dashboard is served and how to log in (after start); undefined when it is off. */
  get dashboardLogin(): DashboardLogin | undefined {
    return this.http?.dashboardLogin;
  }

  async start(): Promise<void> {
    const { config, redisUrl, logger } = this.opts;
    // Our scripts call BullMQ's by position: refuse a BullMQ whose scripts are not the recorded ones.
    assertBullmqScripts();
    const tracing = (this.tracing = Tracing.create(config.tracing, 'orchestrator', logger));
    // Credentials first: a bad tokens or certificate file stops start-up before anything runs.
    const security = grpcSecurity(
      config.grpc,
      { section: 'grpc', addrKey: 'grpc.addr', addr: config.grpc.addr, roles: GRPC_ROLES, taskClasses: config.classes.keys() },
      logger,
    );
    // Two connections: BullMQ's and ours (see src/redis/connection.ts).
    const redis = (this.redis = await createFailFastRedis(redisUrl, 'orq-orchestrator', true));
    const bullRedis = (this.bullRedis = await createFailFastRedis(redisUrl, 'orq-orchestrator-queues'));
    // The calls confirmed on replicas write, and WAIT, on connections of their own, so reads never
    // queue behind a blocked WAIT (src/redis/write-connections.ts); without waitReplicas, the same two.
    const writes = (this.writes = await openWriteConnections(redisUrl, config.redis.waitReplicas, { redis, bullRedis }));
    const ownerId = `${hostname()}:${process.pid}:${randomUUID()}`;
    // Before anything reads the task index or lists: an upgrade's previous index and task lists move to today's layout.
    const feedKeys = keysFor(config.redis.prefix, redisUrl, config.classes);
    const partitioned = [...config.classes.values()].filter((c) => c.partitions > 1).map((c) => c.name);
    // One Redis holds every key in one slot anyway: partitions would only add queues.
    if (!feedKeys.cluster && partitioned.length > 0)
      logger.warn({ classes: partitioned }, 'classes.<name>.partitions has no effect on a single Redis: each class stays one queue');
    await migrateLegacyTaskIndex({ redis, keys: feedKeys, logger, ownerId, classes: config.classes.keys() });
    // One shared reader per events stream for StreamEvents and StreamWorkflowStatus alike.
    const eventsTail = (this.eventsTail = eventsTailers({
      redisUrl,
      redis,
      keys: feedKeys,
      classes: config.classes.keys(),
      // Entries too large for one message are delivered as markers (feed-format.ts).
      maxEntryBytes: maxDeliveredBytes(config),
      logger,
    }));
    const services = createReadServices({ config, redisUrl, redis, bullRedis, writes: writes.redis, eventsTail });
    const { keys, queues, status, store, workflowStatus, system, pools, runList } = services;
    this.queues = queues;
    const queueWrites = (this.queueWrites = writes.separate ? new TaskQueues({ redis: writes.bullRedis, keys, classes: config.classes }) : queues);
    const memory = (this.memory = new RedisMemoryWatch({
      redis,
      intervalMs: config.redis.memoryCheckIntervalMs,
      highWaterFraction: config.redis.memoryHighWaterMark,
      highWaterBytes: config.redis.memoryHighWaterMarkBytes,
      logger,
    }));
    await memory.start();
    system.addComponent(() => memoryComponent(memory));
    // What writes for a caller's call writes on the write connections: submissions, cancels,
    // retries, runs, purges (and the retention sweeper that shares the purge's code).
    const submitter = new TaskSubmitter({
      redis: writes.redis,
      keys,
      queues: queueWrites,
      maxPayloadBytes: config.grpc.maxPayloadBytes,
      maxBatchSize: config.grpc.maxBatchSize,
      eventsMaxLen: config.streams.eventsMaxLen,
      executors: executorPolicyOf(config),
    });
    const canceller = new TaskCanceller({
      redis: writes.redis,
      keys,
      queues: queueWrites,
      status,
      eventsMaxLen: config.streams.eventsMaxLen,
      resultsMaxLen: config.streams.resultsMaxLen,
    });
    const lister = new TaskLister({ redis, keys, queues });
    const retrier = new TaskRetrier({ redis: writes.redis, keys, queues: queueWrites, status, lister, eventsMaxLen: config.streams.eventsMaxLen });
    this.retention = new TaskRetention({
      redis: writes.redis,
      keys,
      queues: queueWrites,
      logger,
      ownerId,
      intervalMs: config.retention.sweepIntervalMs,
      orphanGraceMs: config.retention.orphanGraceMs,
      maxFinishedBytes: () => finishedBytesBound(config, memory.current.maxBytes),
    });
    this.retention.start();
    const runs = new WorkflowRuns({
      redis: writes.redis,
      keys,
      store,
      submitter,
      canceller,
      logger,
      eventsMaxLen: config.streams.eventsMaxLen,
      runRetentionMs: config.workflows.runRetentionMs,
      maxInputBytes: config.grpc.maxPayloadBytes,
      tracing,
    });
    this.engine = new WorkflowEngine({
      redis,
      redisUrl,
      keys,
      taskClasses: [...queues.classes.keys()],
      runs,
      runList,
      logger,
      recoverAfterMs: config.workflows.recoverAfterMs,
      sweepIntervalMs: config.workflows.sweepIntervalMs,
      maxDeliveries: config.workflows.inboxMaxDeliveries,
    });
    await this.engine.start();
    const scheduleStore = new ScheduleStore({ redis, writes: writes.redis, keys });
    const scheduleTimers = (this.scheduleTimers = new ScheduleTimers({ bullRedis, bullWrites: writes.bullRedis, keys }));
    this.scheduleRunner = new ScheduleRunner({ redisUrl, keys, store: scheduleStore, timers: scheduleTimers, submitter, logger });
    await this.scheduleRunner.start();
    const schedules = new ScheduleService({ store: scheduleStore, timers: scheduleTimers, checkTask: (t, field) => void submitter.prepare(t, field) });
    const registry = createMetricsRegistry();
    // One WAIT per connection for the gRPC calls and the dashboard's actions alike (their lanes are shared).
    const replicas = new ReplicaWait({ replicas: config.redis.waitReplicas, timeoutMs: config.redis.waitTimeoutMs });
    this.http = createOperatorHttp({
      config,
      redis,
      registry,
      services,
      dashboard: config.http.dashboard.enabled,
      writes: { redis: writes.redis, queues: queueWrites, replicas },
      logger,
    });
    await this.http.start();
    const inFlight = new InFlightBytes(config.grpc.maxInFlightBytes);
    inFlight.register(registry);
    memory.register(registry);
    const submissions = new SubmitAdmission({
      memory: () => memory.current,
      rate: new SubmitRateLimiter({ limit: config.grpc.submitRateLimit, overrides: security.submitRateLimits }),
      callerFromToken: security.summary.tokens > 0,
    });
    submissions.register(registry);
    this.grpc = new GrpcServer({
      addr: config.grpc.addr,
      maxMessageBytes: config.grpc.maxMessageBytes,
      inFlight,
      security,
      // Metrics inside auth, so refused calls are counted too.
      interceptors: [new GrpcMetrics({ registry }).interceptor],
      taskClasses: [...config.classes.keys()],
      services: {
        submitter,
        status,
        canceller,
        feeds: (this.feeds = new FeedSubscriptions({
          redis,
          redisUrl,
          keys,
          status,
          knownClasses: new Set(config.classes.keys()),
          maxEntryBytes: maxDeliveredBytes(config),
          logger,
          maxBufferedEntries: config.grpc.streamBufferEntries,
          maxBufferedBytes: config.grpc.streamBufferBytes,
          eventsTail,
        })),
        streams: new StreamAdmission({
          maxStreams: config.grpc.maxStreams,
          maxStreamsPerCaller: config.grpc.maxStreamsPerCaller,
          callerFromToken: security.summary.tokens > 0,
        }),
        submissions,
        system,
        workflows: { store, runs, status: workflowStatus },
        classes: new ClassControls({ redis, keys, queues, writes: { redis: writes.redis, queues: queueWrites } }),
        logger,
        taskOps: { lister, retrier, retention: this.retention },
        schedules,
        tracing,
        logs: services.logs,
        pools,
        runList,
        replicas,
      },
    });
    await this.grpc.start();
    this.log.info(
      {
        grpc: `${config.grpc.addr.replace(/:\d+$/, '')}:${this.grpc.port}`,
        http: this.http.address,
        ...security.summary,
      },
      'orchestrator serving',
    );
  }

  async close(graceMs = 5_000): Promise<void> {
    await Promise.all([this.grpc?.close(graceMs), this.http?.close(Math.min(graceMs, 2_000))]);
    await Promise.all([this.feeds?.close(), this.eventsTail?.close()]);
    await this.engine?.close();
    await this.retention?.close();
    await this.memory?.close();
    await this.scheduleRunner?.close(Math.min(graceMs, 2_000));
    await this.scheduleTimers?.close();
    await this.queues?.close();
    if (this.queueWrites !== this.queues) await this.queueWrites?.close();
    const apart = this.writes?.separate ? [this.writes.redis.quit(), this.writes.bullRedis.quit()] : [];
    await Promise.all([this.redis?.quit(), this.bullRedis?.quit(), ...apart]).catch(() => undefined);
    // Last: the spans of calls that ended during the close are sent too.
    await this.tracing.close();
    this.log.info('orchestrator stopped');
  }
}
