/**
 * One connection to the configured Redis at start, to tell a misconfiguration from an outage.
 * Our connections ride out an unreachable Redis by reconnecting for as long as it takes (a
 * Redis restart must not stop the system), so without this check an untrusted certificate or a
 * wrong password would look like an outage forever: a pool waiting silently, an orchestrator
 * ending with "Connection is closed". Errors no retry can fix (TLS verification, credentials)
 * are reported at once; an unreachable server is left to the reconnecting connections.
 */
import type { RedisClient } from './redis-client.js';
import { createRedis } from './connection.js';

export type RedisAccess =
  | { ok: true }
  /** `reason`: tls (the certificate or handshake), auth (credentials), unreachable (anything else). */
  | { ok: false; reason: 'tls' | 'auth' | 'unreachable'; message: string };

/** `url` with any password replaced by `***`, for messages and logs (one host or a cluster's seeds). */
export { redactAddress as redactRedisUrl } from '../config/redis-address.js';

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|ERR_OSSL_)/;

function classify(err: Error & { code?: string }, tls: boolean): 'tls' | 'auth' | 'unreachable' {
  if (/^(NOAUTH|WRONGPASS)|invalid password|invalid username-password/i.test(err.message)) return 'auth';
  if ((err.code && TLS_CODES.test(err.code)) || /certificate|ssl|tls/i.test(err.message)) return 'tls';
  // A TLS server that refuses our client certificate (TLS 1.3) sends its alert after the
  // handshake and closes; the reset often arrives before the alert is read. A server that is
  // down refuses the TCP connection instead (ECONNREFUSED).
  if (tls && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) return 'tls';
  return 'unreachable';
}

/** Connects once (no retries) and PINGs, with this process's password and TLS settings. */
export async function checkRedisAccess(url: string, timeoutMs = 10_000): Promise<RedisAccess> {
  const errors: Error[] = [];
  const r: RedisClient = createRedis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    connectionName: 'orq-start-check',
  });
  r.on('error', (err: Error) => void errors.push(err));
  try {
    await r.connect();
    await r.ping();
    return { ok: true };
  } catch (err) {
    // The first error event says why (a TLS alert, WRONGPASS); the rejection is often only "Connection is closed".
    const tls = /^rediss:\/\//i.test(url);
    const first = errors.find((e) => classify(e, tls) !== 'unreachable') ?? errors[0] ?? (err as Error);
    const cause = classify(err as Error, tls) !== 'unreachable' ? (err as Error) : first;
    return { ok: false, reason: classify(cause, tls), message: cause.message.replace(/\s+/g, ' ').trim() };
  } finally {
    r.disconnect();
  }
}
