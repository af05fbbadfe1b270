/**
 * Polls a condition with a deadline: tests wait for states, never for fixed sleeps.
 *
 * `fn` is called until it returns a truthy value, which is returned. Errors thrown by `fn` count
 * as "not yet" and are retried; on timeout the last one is reported (and set as the cause).
 */
export async function waitFor<T>(fn: () => T | Promise<T>, opts: { timeoutMs?: number; intervalMs?: number; message?: string } = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const intervalMs = opts.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let calls = 0;
  let lastErrorAt = 0;
  for (;;) {
    calls++;
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastError = err;
      lastErrorAt = calls;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      let why = '';
      if (lastError !== undefined) {
        const text = lastError instanceof Error ? lastError.message : String(lastError);
        why = lastErrorAt === calls ? `; last error: ${text}` : `; last value was falsy (an earlier call threw: ${text})`;
      }
      throw new Error(`${opts.message ?? 'condition not met'} within ${timeoutMs} ms${why}`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, left)));
  }
}
