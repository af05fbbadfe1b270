/**
 * Typed errors of the domain. Each has a stable code and says whether a retry can help.
 * Transport layers map codes to their own status (gRPC: src/grpc/status.ts) in one place.
 */
export type ErrorCode =
  | 'invalid_argument'
  | 'not_found'
  | 'already_exists'
  | 'resource_exhausted'
  | 'unavailable'
  | 'failed_precondition'
  | 'permission_denied'
  | 'unimplemented'
  | 'internal'
  // Task-attempt outcomes, carried in results and events.
  | 'task_failed'
  | 'timed_out'
  | 'cancelled'
  // The pool refused to run the attempt: its execution policy forbids it, or the job's data is
  // not a valid task (written into Redis by other means). Never retried.
  | 'policy_denied'
  // The attempt's result was larger than its class's maxResultBytes. Never retried: the same
  // task gives the same result.
  | 'result_too_large';

export class OrchestratorError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** The request field at fault, for invalid_argument (e.g. "tasks[3].payload"). */
  readonly field?: string;
  /** For a refusal that passes with time (a limit, a full Redis): how long to wait before retrying. */
  readonly retryAfterMs?: number;

  constructor(code: ErrorCode, message: string, opts: { retryable?: boolean; field?: string; cause?: unknown; retryAfterMs?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'OrchestratorError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.field = opts.field;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

export function invalidArgument(field: string, message: string): OrchestratorError {
  return new OrchestratorError('invalid_argument', `${field}: ${message}`, { field });
}

/**
 * A request the execution policy or the caller's role forbids. `field` names the request field
 * at fault; the message names the rule (a config key) that forbids it.
 */
export function permissionDenied(field: string, message: string): OrchestratorError {
  return new OrchestratorError('permission_denied', `${field}: ${message}`, { field });
}

/** The outcome of one task attempt that did not succeed. */
export class TaskError extends OrchestratorError {
  /** Structured detail that goes into the result (exit code, output tail, ...). */
  readonly detail?: Record<string, unknown>;

  constructor(
    code: 'task_failed' | 'timed_out' | 'cancelled' | 'policy_denied' | 'result_too_large',
    message: string,
    opts: { retryable?: boolean; detail?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(code, message, { retryable: opts.retryable ?? (code === 'task_failed' || code === 'timed_out'), cause: opts.cause });
    this.name = 'TaskError';
    this.detail = opts.detail;
  }
}
