/**
 * Fails on purpose, for tests and drills: payload.message (default "failed on purpose"),
 * payload.retryable ("false" fails without retrying), payload.succeed_on_attempt (succeed from
 * that attempt on), payload.log (a line written with ctx.log and console.log first: the task's log).
 */
import type { Handler } from './handler.js';

const fail: Handler = (payload, ctx) => {
  if (payload.log !== undefined) {
    ctx.log(payload.log);
    // Captured as the task's stdout in a sandbox; in-process, it is the pool's own output.
    // eslint-disable-next-line no-console -- a handler's console output is what this drill shows
    console.log(`console: ${payload.log}`);
  }
  const from = Number(payload.succeed_on_attempt ?? 0);
  if (from > 0 && ctx.attempt >= from) return { attempt: ctx.attempt };
  throw Object.assign(new Error(payload.message ?? 'failed on purpose'), { retryable: payload.retryable !== 'false' });
};
export default fail;
