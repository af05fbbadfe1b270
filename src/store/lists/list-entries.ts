/**
 * A task list stream (`{<prefix>}:list:<class>`, keys.ts) oldest first, for retention's scans:
 * a read only (XRANGE). Entries of another shape than `t` = task_id are skipped.
 */
import type { RedisClient } from '../../redis/redis-client.js';

export interface ListEntry {
  /** The task id. */
  id: string;
  /** The stream entry id (`<ms>-<seq>`), to go on after it: `(<entry>`. */
  entry: string;
}

/** Up to `count` entries from `from` ("-" or "(<entry id>") to those of ms `maxMs` included. */
export async function listEntries(redis: RedisClient, list: string, from: string, maxMs: number, count: number): Promise<ListEntry[]> {
  const out: ListEntry[] = [];
  for (const [entry, fields] of await redis.xrange(list, from, String(Math.floor(maxMs)), 'COUNT', count)) {
    const at = fields.indexOf('t');
    if (at >= 0 && at % 2 === 0 && at + 1 < fields.length) out.push({ id: fields[at + 1]!, entry });
  }
  return out;
}
