/**
 * A failure that repeats (every sweep, every reconnect while Redis is down) is logged when it
 * first happens and then at most once per interval, with how many were left out, so an outage
 * of minutes reads as a few lines rather than thousands.
 */
import type { Logger } from 'pino';

export type RepeatedLog = (err: unknown, msg: string) => void;

export function repeatLimited(log: Logger, level: 'warn' | 'error', intervalMs = 30_000): RepeatedLog {
  let lastAt = 0;
  let skipped = 0;
  return (err, msg) => {
    const now = Date.now();
    if (now - lastAt < intervalMs) {
      skipped++;
      return;
    }
    log[level](skipped > 0 ? { err, repeatsNotLogged: skipped } : { err }, msg);
    lastAt = now;
    skipped = 0;
  };
}
