/**
 * The dashboard's JSON answers, and a domain error as one: its HTTP status comes from the one
 * code table (src/errors/error-codes.ts), the same that gives gRPC callers theirs.
 */
import { OrchestratorError } from '../src/errors/errors.js';
import { ERROR_CODES, isCallerFacing } from '../src/errors/error-codes.js';
import type { RouteResult } from '../src/monitoring/probe-routes.js';

export const json = (status: number, body: unknown): RouteResult => ({ status, contentType: 'application/json; charset=utf-8', body: JSON.stringify(body) });

/**
 * A refusal the caller can act on, as `{error, code, field?}` with its status; anything else
 * (a server fault, a non-domain error) is rethrown for the error handler, which logs it and
 * answers 500 without its text.
 */
export function errorAnswer(err: unknown): RouteResult {
  if (err instanceof OrchestratorError && isCallerFacing(err.code)) {
    return json(ERROR_CODES[err.code].http, { error: err.message, code: err.code, ...(err.field ? { field: err.field } : {}) });
  }
  throw err;
}
