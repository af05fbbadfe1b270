/**
 * Cursors of the feed streams. Reading a stream for subscribers is stream-tailer.ts's job: one
 * shared blocking reader per stream, never one connection per subscriber.
 */
import type { RedisClient } from '../redis/redis-client.js';
import { invalidArgument } from '../errors/errors.js';
import type { RawEntry } from '../store/codecs/feed-format.js';

const CURSOR_RE = /^(\d+)(-\d+)?$/;

/** Validates a client cursor ("0", "1712345678901-0", "$"). */
export function checkCursor(field: string, cursor: string): string {
  if (cursor === '$' || CURSOR_RE.test(cursor)) return cursor;
  throw invalidArgument(field, `"${cursor}" is not a stream cursor (an entry id such as 1712345678901-0, or 0)`);
}

/** The id of the newest entry, or "0-0" for an empty stream: a cursor meaning "from now". */
export async function lastEntryId(redis: RedisClient, key: string): Promise<string> {
  const last = (await redis.xrevrange(key, '+', '-', 'COUNT', 1)) as RawEntry[];
  return last[0]?.[0] ?? '0-0';
}
