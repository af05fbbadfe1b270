import type { RedisClient } from '../../redis/redis-client.js';
import { storeScript } from '../store-script.js';

/** Where a page starts and what it may hold. */
export interface NewestFirstPage {
  /** Highest score to include; Infinity: no bound. */
  maxScore: number;
  /** Lowest score to include; -Infinity: no bound. */
  minScore: number;
  /** The last entry the previous page looked at; none for the first page. */
  cursor?: { score: number; id: string };
  /** Most entries to return. */
  count: number;
}

export interface ScoredEntry {
  id: string;
  score: number;
}

type Command = (list: string, max: string, min: string, cursorScore: string, cursorId: string, count: number) => Promise<string[]>;

const bound = (n: number) => (n === Infinity ? '+inf' : n === -Infinity ? '-inf' : String(n));

/**
 * lua/lists/page-newest-first.lua: up to `count` entries of the zset `list` ordered by (score,
 * id) descending that come strictly after the cursor, within [minScore, maxScore].
 */
export function pageNewestFirst(redis: RedisClient): (list: string, page: NewestFirstPage) => Promise<ScoredEntry[]> {
  const run = storeScript<Command>(redis, 'lists/page-newest-first', { numberOfKeys: 1 });
  return async (list, { maxScore, minScore, cursor, count }) => {
    const flat = await run(list, bound(maxScore), bound(minScore), cursor ? String(cursor.score) : '', cursor?.id ?? '', count);
    const out: ScoredEntry[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ id: flat[i]!, score: Number(flat[i + 1]) });
    return out;
  };
}
