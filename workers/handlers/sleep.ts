/** Waits `ms` milliseconds (payload.ms, default 1000), reporting progress, honouring cancel. */
import type { Handler } from './handler.js';

const sleep: Handler = async (payload, ctx) => {
  const ms = Number(payload.ms ?? 1000);
  if (!Number.isFinite(ms) || ms < 0) throw Object.assign(new Error(`payload.ms: "${payload.ms}" is not a duration`), { retryable: false });
  await new Promise<void>((resolve, reject) => {
    const stop = () => reject(ctx.signal.reason instanceof Error ? ctx.signal.reason : new Error(String(ctx.signal.reason ?? 'aborted')));
    // The signal may have fired before the handler was even called.
    if (ctx.signal.aborted) return stop();
    const timer = setTimeout(resolve, ms);
    ctx.signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        stop();
      },
      { once: true },
    );
  });
  return { sleptMs: ms };
};
export default sleep;
