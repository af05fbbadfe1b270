/**
 * Pages of a task list stream (`{<prefix>}:list:<class>`, keys.ts) newest first, in ListTasks's
 * order: by (ms, task_id) descending, the ms being the entry id's. Within one ms the stream
 * keeps submission order instead, so a page never ends inside an ms: entries of the last ms it
 * reached are all returned, the page then holding more than `count` (at most one batch more,
 * every task of a batch sharing its ms). A read only: XREVRANGE in chunks.
 */
import type { RedisClient } from '../../redis/redis-client.js';
import type { ScoredEntry } from './page-newest-first.js';

/** Where a page starts and what it may hold. */
export interface StreamPage {
  /** Highest ms to include; Infinity: no bound. */
  maxMs: number;
  /** Lowest ms to include; -Infinity: no bound. */
  minMs: number;
  /** The last (ms, task id) the previous page looked at; none for the first page. */
  cursor?: { score: number; id: string };
  /** Entries wanted (see above for why a page may hold more). */
  count: number;
}

/** The task id of an entry's fields (`t`), or undefined for an entry of another shape. */
function taskIdOf(fields: string[]): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 't') return fields[i + 1];
  return undefined;
}

export async function streamNewestFirst(redis: RedisClient, list: string, { maxMs, minMs, cursor, count }: StreamPage): Promise<ScoredEntry[]> {
  const top = Math.min(maxMs, cursor?.score ?? Infinity);
  let end = top === Infinity ? '+' : String(Math.floor(top));
  const start = minMs === -Infinity ? '-' : String(Math.ceil(minMs));
  const chunk = count + 64;
  const out: ScoredEntry[] = [];
  for (;;) {
    const entries = await redis.xrevrange(list, end, start, 'COUNT', chunk);
    for (const [entryId, fields] of entries) {
      const ms = Number(entryId.slice(0, entryId.indexOf('-')));
      const id = taskIdOf(fields);
      if (id === undefined) continue;
      if (out.length >= count && ms !== out[out.length - 1]!.score) return out;
      // At the cursor's ms, only ids after it (smaller) come next.
      if (cursor && ms === cursor.score && id >= cursor.id) continue;
      out.push({ id, score: ms });
    }
    if (entries.length < chunk) return out;
    end = `(${entries[entries.length - 1]![0]}`;
  }
}
