/**
 * The domain services that read the system, shared by the orchestrator and the dashboard on
 * its own: class queues, task status, workflow definitions and run status, and the health and
 * figures behind Health, GetMetrics and /metrics. Built over two connections: BullMQ's and ours
 * (see src/redis/connection.ts).
 */
import type { RedisClient } from './redis/redis-client.js';
import { executorPolicyOf, type Config } from './config/config.js';
import { SystemStatus } from './monitoring/system-status.js';
import type { Keys } from './store/keys.js';
import { keysFor } from './store/keys-for.js';
import { TaskQueues } from './tasks/task-queues.js';
import { TaskStatusReader } from './tasks/task-status.js';
import { TaskLogReader } from './tasks/task-logs.js';
import { TaskLogStore } from './tasks/task-log-store.js';
import { VERSION } from './version.js';
import { WorkflowStatusReader } from './workflows/workflow-status.js';
import { WorkflowStore } from './workflows/workflow-store.js';
import type { FeedTailers } from './feeds/feed-tailers.js';
import type { TaskEventRecord } from './store/codecs/feed-format.js';
import { PoolRegistry } from './pools/pool-registry.js';
import { WorkflowRunList } from './workflows/run-list.js';

export interface ReadServicesOptions {
  config: Config;
  redisUrl: string;
  /** Our own connection. */
  redis: RedisClient;
  /** BullMQ's connection. */
  bullRedis: RedisClient;
  /**
   * Our connection of acknowledged writes (src/redis/write-connections.ts), for the writes of
   * CreateWorkflow, DrainPool and ResumePool. @default redis
   */
  writes?: RedisClient;
  /** The shared readers of the events streams (the orchestrator's); workflow status makes its own when absent. */
  eventsTail?: FeedTailers<TaskEventRecord>;
}

export interface ReadServices {
  keys: Keys;
  queues: TaskQueues;
  status: TaskStatusReader;
  /** Task logs (GetTaskLogs, StreamTaskLogs; a dashboard page may show them too). */
  logs: TaskLogReader;
  store: WorkflowStore;
  workflowStatus: WorkflowStatusReader;
  system: SystemStatus;
  /** ListPools and DrainPool. */
  pools: PoolRegistry;
  /** ListWorkflowRuns. */
  runList: WorkflowRunList;
}

/**
 * Most bytes of one result, or one stream entry, the front end hands out in a message: the
 * gRPC message limit less room for the other fields. Larger ones go out as markers, since a
 * message over the limit would end the call (and a stream would stop at that entry for ever).
 */
export function maxDeliveredBytes(config: Config): number {
  return Math.max(1024, config.grpc.maxMessageBytes - (64 << 10));
}

export function createReadServices({ config, redisUrl, redis, bullRedis, writes, eventsTail }: ReadServicesOptions): ReadServices {
  const keys = keysFor(config.redis.prefix, redisUrl, config.classes);
  const queues = new TaskQueues({ redis: bullRedis, keys, classes: config.classes });
  const status = new TaskStatusReader({ redis, keys, queues, maxResultBytes: maxDeliveredBytes(config) });
  const store = new WorkflowStore({
    redis,
    writes,
    keys,
    classes: config.classes,
    maxPayloadBytes: config.grpc.maxPayloadBytes,
    maxSteps: config.workflows.maxSteps,
    executors: executorPolicyOf(config),
  });
  return {
    keys,
    queues,
    status,
    logs: new TaskLogReader({
      store: new TaskLogStore(redis, keys),
      status,
      maxAnswerBytes: maxDeliveredBytes(config),
      followPollMs: config.logs.followPollMs,
    }),
    store,
    workflowStatus: new WorkflowStatusReader({
      redis,
      redisUrl,
      keys,
      store,
      status,
      events: eventsTail,
      classes: config.classes.keys(),
      maxBufferedEntries: config.grpc.streamBufferEntries,
      maxBufferedBytes: config.grpc.streamBufferBytes,
    }),
    pools: new PoolRegistry({ redis, writes, keys, heartbeatMs: config.pool.heartbeatMs, goneListedMs: config.pool.goneListedMs }),
    runList: new WorkflowRunList({ redis, keys }),
    system: new SystemStatus({ redis, keys, queues, version: VERSION, startedAtMs: Date.now(), poolTimeoutMs: config.pool.heartbeatMs * 3 }),
  };
}
