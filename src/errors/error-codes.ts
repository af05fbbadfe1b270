/**
 * The one table of what each error code becomes at a transport: its gRPC status (src/grpc/status.ts)
 * and its HTTP status (the dashboard's JSON answers, dashboard/json-answer.ts). A new code is a
 * compile error here until both are chosen.
 */
import { status } from '@grpc/grpc-js';
import type { ErrorCode } from './errors.js';

export interface TransportCodes {
  readonly grpc: status;
  readonly http: number;
}

export const ERROR_CODES: Readonly<Record<ErrorCode, TransportCodes>> = {
  invalid_argument: { grpc: status.INVALID_ARGUMENT, http: 400 },
  not_found: { grpc: status.NOT_FOUND, http: 404 },
  already_exists: { grpc: status.ALREADY_EXISTS, http: 409 },
  resource_exhausted: { grpc: status.RESOURCE_EXHAUSTED, http: 429 },
  unavailable: { grpc: status.UNAVAILABLE, http: 503 },
  failed_precondition: { grpc: status.FAILED_PRECONDITION, http: 409 },
  permission_denied: { grpc: status.PERMISSION_DENIED, http: 403 },
  policy_denied: { grpc: status.PERMISSION_DENIED, http: 403 },
  result_too_large: { grpc: status.RESOURCE_EXHAUSTED, http: 413 },
  unimplemented: { grpc: status.UNIMPLEMENTED, http: 501 },
  internal: { grpc: status.INTERNAL, http: 500 },
  task_failed: { grpc: status.INTERNAL, http: 500 },
  timed_out: { grpc: status.DEADLINE_EXCEEDED, http: 504 },
  cancelled: { grpc: status.CANCELLED, http: 409 },
};

/** Whether an error of this code may show its message to a caller: a server fault's may not. */
export function isCallerFacing(code: ErrorCode): boolean {
  const http = ERROR_CODES[code].http;
  return http < 500 || code === 'unavailable';
}
