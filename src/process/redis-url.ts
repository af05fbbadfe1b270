/**
 * The Redis a process should use: the configured one (redis.url, with redis.passwordFile and
 * redis.tls), or an embedded redis-server started on demand (data under
 * redis.embedded.dataDir, AOF on, noeviction, a generated password). Either way the password
 * and TLS settings are installed for every connection this process makes
 * (src/redis/connection.ts) before it returns, and the URL it returns carries no password that
 * was not already in the configured one.
 */
import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import { useRedisConnectionSettings } from '../redis/connection.js';
import { configuredConnectionSettings } from '../redis/connection-settings.js';
import { startEmbeddedRedis } from '../redis/embedded-redis.js';

export async function resolveRedis(config: Config, log: Logger): Promise<{ url: string; stop(): Promise<void> }> {
  if (config.redis.url) {
    useRedisConnectionSettings(configuredConnectionSettings(config.redis));
    return { url: config.redis.url, stop: async () => undefined };
  }
  const embedded = await startEmbeddedRedis({ ...config.redis.embedded, logger: log.child({ component: 'embedded-redis' }) });
  useRedisConnectionSettings({ password: embedded.password });
  log.info({ url: embedded.url, reused: embedded.reused }, 'no REDIS_URL: using the embedded redis-server');
  return { url: embedded.url, stop: () => embedded.stop() };
}
