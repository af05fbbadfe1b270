/**
 * The dashboard on its own (src/bin/dashboard.ts): Bull Board, the workflow pages and the
 * probe and cluster metrics routes over one Redis, without the gRPC front end or the workflow
 * engine. The orchestrator serves the same app on its own HTTP server by default.
 */
import type { RedisClient } from '../src/redis/redis-client.js';
import type { Config } from '../src/config/config.js';
import type { Logger } from '../src/logging/logger.js';
import { createMetricsRegistry } from '../src/monitoring/metrics-registry.js';
import { createReadServices } from '../src/read-services.js';
import { createFailFastRedis } from '../src/redis/connection.js';
import { ReplicaWait } from '../src/redis/replica-wait.js';
import { openWriteConnections, type WriteConnections } from '../src/redis/write-connections.js';
import { TaskQueues } from '../src/tasks/task-queues.js';
import { createOperatorHttp, type OperatorHttp } from './operator-http.js';

export interface DashboardServerOptions {
  config: Config;
  redisUrl: string;
  logger: Logger;
}

export class DashboardServer {
  private readonly log: Logger;
  private redis?: RedisClient;
  private bullRedis?: RedisClient;
  private queues?: TaskQueues;
  private writes?: WriteConnections;
  private queueWrites?: TaskQueues;
  private http?: OperatorHttp;

  constructor(private readonly opts: DashboardServerOptions) {
    this.log = opts.logger.child({ component: 'dashboard' });
  }

  get httpPort(): number {
    return this.http?.port ?? 0;
  }

  async start(): Promise<void> {
    const { config, redisUrl } = this.opts;
    const redis = (this.redis = await createFailFastRedis(redisUrl, 'orq-dashboard', true));
    const bullRedis = (this.bullRedis = await createFailFastRedis(redisUrl, 'orq-dashboard-queues'));
    // The actions write on connections of their own when they wait for replicas, as the orchestrator's do.
    const writes = (this.writes = await openWriteConnections(redisUrl, config.redis.waitReplicas, { redis, bullRedis }));
    const services = createReadServices({ config, redisUrl, redis, bullRedis, writes: writes.redis });
    this.queues = services.queues;
    const queueWrites = (this.queueWrites = writes.separate
      ? new TaskQueues({ redis: writes.bullRedis, keys: services.keys, classes: config.classes })
      : undefined);
    this.http = createOperatorHttp({
      config,
      redis,
      registry: createMetricsRegistry(),
      services,
      dashboard: true,
      writes: {
        redis: writes.redis,
        queues: queueWrites ?? services.queues,
        replicas: new ReplicaWait({ replicas: config.redis.waitReplicas, timeoutMs: config.redis.waitTimeoutMs }),
      },
      logger: this.opts.logger,
    });
    await this.http.start();
    this.log.info({ http: this.http.address }, 'dashboard serving');
  }

  async close(graceMs = 2_000): Promise<void> {
    await this.http?.close(graceMs);
    await this.queues?.close();
    await this.queueWrites?.close();
    const own = this.writes?.separate ? [this.writes.redis.quit(), this.writes.bullRedis.quit()] : [];
    await Promise.all([this.redis?.quit(), this.bullRedis?.quit(), ...own]).catch(() => undefined);
    this.log.info('dashboard stopped');
  }
}
