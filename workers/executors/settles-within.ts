import { setTimeout as sleep } from 'node:timers/promises';

/** Whether `p` settles within `ms`; the timer is cleared either way. */
export async function settlesWithin(p: Promise<void>, ms: number): Promise<boolean> {
  const ac = new AbortController();
  try {
    return await Promise.race([p.then(() => true), sleep(ms, false, { signal: ac.signal })]);
  } finally {
    ac.abort();
  }
}
