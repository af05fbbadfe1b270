/** The one place a domain error becomes a gRPC status. */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ConnectionClosedError } from 'bullmq';
import { ReplyError } from 'ioredis';
import { OrchestratorError } from '../errors/errors.js';
import { ERROR_CODES } from '../errors/error-codes.js';
import { MEMORY_RETRY_AFTER_MS } from '../redis/redis-memory-watch.js';

/**
 * redis-errors' base class (ioredis exports only ReplyError; it is not our dependency). Its
 * subclasses other than ReplyError (AbortError: "Command aborted due to connection close";
 * InterruptError; ioredis's MaxRetriesPerRequestError; ParserError: a garbled reply stream) all
 * say the connection went away, never that Redis refused the command.
 */
const RedisReplyError = ReplyError as new () => Error;
const RedisError = Object.getPrototypeOf(RedisReplyError) as new () => Error;

/** System error codes (err.code) of a socket that could not connect or was cut. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_STREAM_DESTROYED',
  'ERR_SOCKET_CLOSED',
]);

/**
 * Redis reply error codes (the first word of the reply) of a server that cannot answer now but
 * will: loading its data, a script or a failover in progress, a replica without its primary.
 */
const UNAVAILABLE_REPLIES = new Set(['LOADING', 'BUSY', 'MASTERDOWN', 'READONLY', 'TRYAGAIN', 'CLUSTERDOWN', 'NOREPLICAS', 'NOAUTH']);

/**
 * The plain Errors ioredis rejects commands with when there is no connection (it has no class for
 * them: these are its exact constants, compared whole, never searched for a word or a letter case).
 */
const IOREDIS_DOWN_MESSAGES = new Set([
  'Connection is closed.',
  "Stream isn't writeable and enableOfflineQueue options is false",
  'Command timed out',
  'connect ETIMEDOUT',
]);

/** How deep to follow `cause` chains (a wrapped Redis error is still a Redis error). */
const MAX_CAUSE_DEPTH = 5;

type Kind = 'unavailable' | 'resource_exhausted';

/** Whether `err` (or what caused it) means Redis is not there right now, or is out of memory. */
function redisKind(err: unknown, depth = 0): Kind | undefined {
  if (!(err instanceof Error) || depth > MAX_CAUSE_DEPTH) return undefined;
  const isReply = err instanceof RedisReplyError;
  const isAbort = [RedisError, ConnectionClosedError].some((c) => err instanceof c);
  if (isReply) {
    const code = err.message.split(' ', 1)[0]!;
    if (code === 'OOM') return 'resource_exhausted';
    if (UNAVAILABLE_REPLIES.has(code)) return 'unavailable';
  } else if (isAbort) {
    return 'unavailable';
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return 'unavailable';
  if (IOREDIS_DOWN_MESSAGES.has(err.message)) return 'unavailable';
  if (err instanceof AggregateError) {
    for (const e of err.errors as unknown[]) {
      const k = redisKind(e, depth + 1);
      if (k) return k;
    }
  }
  return redisKind(err.cause, depth + 1);
}

export function toServiceError(err: unknown): Partial<ServiceError> & { code: status; details: string } {
  const metadata = new Metadata();
  if (err instanceof OrchestratorError) {
    if (err.field) metadata.set('field', err.field);
    // The same trailer as the in-flight cap's (in-flight-bytes.ts): one rule for clients that back off.
    if (err.retryAfterMs !== undefined) metadata.set('retry-after-ms', String(Math.max(1, Math.ceil(err.retryAfterMs))));
    return { code: ERROR_CODES[err.code].grpc, details: err.message, metadata };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  const kind = redisKind(e);
  if (kind === 'unavailable') return { code: status.UNAVAILABLE, details: `redis unavailable: ${e.message}`, metadata };
  if (kind === 'resource_exhausted') {
    // Redis at its maxmemory: the same wait as the high-water mark's, which should have come first.
    metadata.set('retry-after-ms', String(MEMORY_RETRY_AFTER_MS));
    return { code: status.RESOURCE_EXHAUSTED, details: `redis out of memory: ${e.message}`, metadata };
  }
  // A RangeError (a call stack or an allocation too large for one request) or any other bug: the
  // request ends with INTERNAL, the process goes on.
  return { code: status.INTERNAL, details: e.message, metadata };
}
