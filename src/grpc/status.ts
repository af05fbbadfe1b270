/** The one place a domain error becomes a gRPC status. */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { OrchestratorError, type ErrorCode } from '../tasks/errors.js';

const CODES: Record<ErrorCode, status> = {
  invalid_argument: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  already_exists: status.ALREADY_EXISTS,
  resource_exhausted: status.RESOURCE_EXHAUSTED,
  unavailable: status.UNAVAILABLE,
  failed_precondition: status.FAILED_PRECONDITION,
  permission_denied: status.PERMISSION_DENIED,
  policy_denied: status.PERMISSION_DENIED,
  result_too_large: status.RESOURCE_EXHAUSTED,
  unimplemented: status.UNIMPLEMENTED,
  internal: status.INTERNAL,
  task_failed: status.INTERNAL,
  timed_out: status.DEADLINE_EXCEEDED,
  cancelled: status.CANCELLED,
};

/** Errors from the Redis client that mean "Redis is not there right now". */
function isRedisDown(err: Error): boolean {
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|Connection is closed|MaxRetriesPerRequest|Stream isn't writeable|enableOfflineQueue|LOADING/.test(err.message);
}

export function toServiceError(err: unknown): Partial<ServiceError> & { code: status; details: string } {
  const metadata = new Metadata();
  if (err instanceof OrchestratorError) {
    if (err.field) metadata.set('field', err.field);
    return { code: CODES[err.code], details: err.message, metadata };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  if (isRedisDown(e)) return { code: status.UNAVAILABLE, details: `redis unavailable: ${e.message}`, metadata };
  return { code: status.INTERNAL, details: e.message, metadata };
}
