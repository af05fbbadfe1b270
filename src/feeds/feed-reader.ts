/**
 * Tails a feed stream from a cursor. Each subscriber gets its own blocking connection: an
 * XREAD BLOCK holds its connection, and closing that connection is the only prompt way to
 * interrupt it when the subscriber goes away.
 */
import type { Redis } from 'ioredis';
import { createBlockingRedis } from '../redis/connection.js';
import { invalidArgument } from '../tasks/errors.js';
import type { RawEntry } from './feed-format.js';

const CURSOR_RE = /^(\d+)(-\d+)?$/;

/** Validates a client cursor ("0", "1712345678901-0", "$"). */
export function checkCursor(field: string, cursor: string): string {
  if (cursor === '$' || CURSOR_RE.test(cursor)) return cursor;
  throw invalidArgument(field, `"${cursor}" is not a stream cursor (an entry id such as 1712345678901-0, or 0)`);
}

/** The id of the newest entry, or "0-0" for an empty stream: a cursor meaning "from now". */
export async function lastEntryId(redis: Redis, key: string): Promise<string> {
  const last = (await redis.xrevrange(key, '+', '-', 'COUNT', 1)) as RawEntry[];
  return last[0]?.[0] ?? '0-0';
}

export interface TailOptions {
  redisUrl: string;
  key: string;
  /** Exclusive start: entries after this id. "$" means only new entries. */
  cursor: string;
  signal: AbortSignal;
  /** Entries per read. @default 500 */
  batch?: number;
  /** Longest a single read blocks. @default 5000 */
  blockMs?: number;
}

/** Yields entries after the cursor, then new ones as they arrive, until the signal aborts. */
export async function* tailStream(opts: TailOptions): AsyncGenerator<RawEntry> {
  const redis = createBlockingRedis(opts.redisUrl);
  const onAbort = () => redis.disconnect();
  opts.signal.addEventListener('abort', onAbort, { once: true });
  try {
    let cursor = opts.cursor;
    if (cursor === '$') cursor = await lastEntryId(redis, opts.key);
    while (!opts.signal.aborted) {
      let reply: [string, RawEntry[]][] | null;
      try {
        reply = (await redis.xread('COUNT', opts.batch ?? 500, 'BLOCK', opts.blockMs ?? 5_000, 'STREAMS', opts.key, cursor)) as [string, RawEntry[]][] | null;
      } catch (err) {
        if (opts.signal.aborted) return;
        throw err;
      }
      if (!reply) continue;
      for (const entry of reply[0]![1]) {
        cursor = entry[0];
        yield entry;
        if (opts.signal.aborted) return;
      }
    }
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
    redis.disconnect();
  }
}
