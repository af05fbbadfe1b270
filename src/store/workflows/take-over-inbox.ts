import type { RedisClient } from '../../redis/redis-client.js';
import type { InboxStream } from '../keys.js';
import type { RawEntry } from '../codecs/feed-format.js';
import { storeScript } from '../store-script.js';

export interface TakeOverRequest {
  group: string;
  /** Who claims the entries. */
  consumer: string;
  /** Only entries idle at least this long are taken. */
  minIdleMs: number;
  /** An entry delivered this many times already is dead-lettered instead. */
  maxDeliveries: number;
  /** Pending entries looked at. */
  count: number;
  /** MAXLEN ~ of the dead-letter stream. */
  deadMaxLen: number;
  /** Start of the pending-entries range: "-", or "(<last id looked at>". */
  start: string;
}

export interface TakeOverReply {
  /** Entries moved to the dead-letter stream, with their deliveries and fields. */
  dead: [id: string, deliveries: number, fields: string[]][];
  /** Entries now this consumer's. */
  claimed: RawEntry[];
  /** The last entry looked at ("" for none). */
  last: string;
  /** Entries looked at. */
  looked: number;
}

type Command = (
  inbox: string,
  dead: string,
  group: string,
  consumer: string,
  minIdleMs: number,
  maxDeliveries: number,
  count: number,
  deadMaxLen: number,
  start: string,
) => Promise<[TakeOverReply['dead'], RawEntry[], string, number]>;

/** lua/workflows/take-over-inbox.lua: claims, or dead-letters, entries of `inbox` left unfinished (one inbox per call: each is in its own slot on a cluster). */
export function takeOverInbox(redis: RedisClient): (inbox: InboxStream, req: TakeOverRequest) => Promise<TakeOverReply> {
  const run = storeScript<Command>(redis, 'workflows/take-over-inbox', { numberOfKeys: 2 });
  return async (inbox, r) => {
    const [dead, claimed, last, looked] = await run(inbox.key, inbox.dead, r.group, r.consumer, r.minIdleMs, r.maxDeliveries, r.count, r.deadMaxLen, r.start);
    return { dead, claimed, last, looked };
  };
}
