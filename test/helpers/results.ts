/** Reading the results stream directly, as a Redis consumer would. */
import type { Redis } from 'ioredis';
import type { Keys } from '../../src/store/keys.js';

/** The fields of a task's (first) entry in the results stream, or undefined if it has none. */
export async function resultFields(r: Redis, keys: Keys, taskId: string): Promise<Record<string, string> | undefined> {
  const entry = (await r.xrange(keys.results, '-', '+')).find(([, f]) => f[1] === taskId);
  if (!entry) return undefined;
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < entry[1].length; i += 2) fields[entry[1][i]!] = entry[1][i + 1]!;
  return fields;
}
