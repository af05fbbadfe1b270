/**
 * The error an executor throws once the work it stopped because its signal aborted is really
 * gone: the signal's reason (a TaskError saying timed out or cancelled), carrying whatever the
 * work left behind (output tails, exit code) as detail.
 */
import { TaskError } from '../../src/errors/errors.js';

type TaskErrorCode = ConstructorParameters<typeof TaskError>[0];

/** `fallback` is the message when the reason is not an error at all. */
export function abortError(reason: unknown, fallback: string, detail?: Record<string, unknown>): Error {
  if (reason instanceof TaskError) {
    if (detail === undefined) return reason;
    return new TaskError(reason.code as TaskErrorCode, reason.message, {
      retryable: reason.retryable,
      detail: { ...detail, ...reason.detail },
      cause: reason,
    });
  }
  if (reason instanceof Error) return reason;
  return new TaskError('cancelled', fallback, { detail, cause: reason });
}
