/**
 * The Redis a process should use: the configured one (redis.url, with redis.passwordFile and
 * redis.tls), or the embedded redis-server (data under redis.embedded.dataDir, AOF on,
 * noeviction, a generated password), which only `npm start` starts on demand: every other
 * process reuses one already running for its data directory, or refuses to start, naming
 * REDIS_URL (ResolveRedisOptions.startEmbedded). Either way the password
 * and TLS settings are installed for every connection this process makes
 * (src/redis/connection.ts) before it returns, and the URL it returns carries no password that
 * was not already in the configured one.
 */
import { ConfigError, type Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import { useRedisConnectionSettings } from '../redis/connection.js';
import { checkRedisAccess, redactRedisUrl } from '../redis/connection-check.js';
import { configuredConnectionSettings } from '../redis/connection-settings.js';
import { EmbeddedRedisNotRunningError, startEmbeddedRedis } from '../redis/embedded-redis.js';

export interface ResolvedRedis {
  url: string;
  /** Whether an already running embedded server was reused (undefined: the configured Redis). */
  reusedEmbedded?: boolean;
  stop(): Promise<void>;
}

export interface ResolveRedisOptions {
  /**
   * Whether to start the embedded redis-server when no REDIS_URL is set and none runs: `npm start`
   * only. A pool, front end or dashboard process without REDIS_URL reuses a running one or exits.
   * @default false
   */
  startEmbedded?: boolean;
  /** The process, as the refusal names it ("a worker pool"). */
  what: string;
}

export async function resolveRedis(config: Config, log: Logger, opts: ResolveRedisOptions): Promise<ResolvedRedis> {
  if (config.redis.url) {
    const { url } = config.redis;
    useRedisConnectionSettings(configuredConnectionSettings(config.redis));
    const access = await checkRedisAccess(url);
    if (!access.ok) {
      const where = `redis.url ${redactRedisUrl(url)}`;
      if (access.reason === 'tls') {
        throw new ConfigError(
          `${where}: TLS failed (${access.message}); if the server's certificate is signed by your own CA, set redis.tls.caFile (env ORCHESTRATOR_REDIS_CA_FILE) to it; ` +
            'if the server asks for client certificates, set redis.tls.certFile and redis.tls.keyFile',
        );
      }
      if (access.reason === 'auth') {
        throw new ConfigError(
          `${where}: the server refused our credentials (${access.message}); put them in the URL (redis://user:password@host) or in redis.passwordFile`,
        );
      }
      // An outage, not a mistake: our connections keep reconnecting until it is back.
      log.warn({ url: redactRedisUrl(url), err: access.message }, 'Redis is not reachable yet: waiting for it');
    }
    return { url, stop: async () => undefined };
  }
  let embedded;
  try {
    embedded = await startEmbeddedRedis({
      ...config.redis.embedded,
      startIfMissing: opts.startEmbedded ?? false,
      logger: log.child({ component: 'embedded-redis' }),
    });
  } catch (err) {
    if (!(err instanceof EmbeddedRedisNotRunningError)) throw err;
    throw new ConfigError(
      `no REDIS_URL, and ${err.message}: ${opts.what} does not start a Redis of its own (only npm start does); ` +
        'set REDIS_URL (or redis.url) to the Redis to use, e.g. REDIS_URL=redis://127.0.0.1:6379, or start npm start first to use its embedded one',
    );
  }
  useRedisConnectionSettings({ password: embedded.password });
  log.info({ url: embedded.url, reused: embedded.reused }, 'no REDIS_URL: using the embedded redis-server');
  return { url: embedded.url, reusedEmbedded: embedded.reused, stop: () => embedded.stop() };
}
