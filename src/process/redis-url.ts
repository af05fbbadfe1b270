/**
 * The Redis URL a process should use: the configured one, or an embedded redis-server started
 * on demand (data under redis.embedded.dataDir, AOF on, noeviction).
 */
import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import { startEmbeddedRedis } from '../redis/embedded-redis.js';

export async function resolveRedis(config: Config, log: Logger): Promise<{ url: string; stop(): Promise<void> }> {
  if (config.redis.url) return { url: config.redis.url, stop: async () => undefined };
  const embedded = await startEmbeddedRedis({ ...config.redis.embedded, logger: log.child({ component: 'embedded-redis' }) });
  log.info({ url: embedded.url, reused: embedded.reused }, 'no REDIS_URL: using the embedded redis-server');
  return embedded;
}
