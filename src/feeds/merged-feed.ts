/**
 * A subscription to several streams of one feed (a cluster's per-class streams), merged into one
 * sequence with one cursor.
 *
 * Each stream is read through its shared reader (feed-tailers.ts) with that reader's handover
 * contract (stream-tailer.ts): from its own start, every entry after it exactly once, in id order.
 * The merge hands items on as they arrive, each stream's in its order (there is no order across
 * streams: their ids come from different shards' clocks), and keeps the position of every stream:
 * an item's cursor is the whole position after it (feed-cursor.ts), so resuming from it reads each
 * stream from exactly where the holder stopped, whatever the interleaving was.
 *
 * On a single Redis the feed is one stream: the items and their cursors are that stream's, plain
 * entry ids, as they always were.
 */
import { OrchestratorError } from '../errors/errors.js';
import type { FeedStream } from '../store/keys.js';
import { encodeFeedCursor, type FeedStart } from './feed-cursor.js';
import type { FeedTailers } from './feed-tailers.js';
import { compareIds, type SubscribeOptions, type TailSubscription } from './stream-tailer.js';

export interface MergedOptions<R> extends Omit<SubscribeOptions<R>, 'cursor'> {
  /** The streams to read: the feed's, or those of the classes a filter names. */
  streams: readonly FeedStream[];
  start: FeedStart;
}

export interface MergedItem<R> {
  /** The whole position after this item: plain entry id on a single Redis, composite on a cluster. */
  cursor: string;
  /** The stream it came from (its name in the feed) and its entry id there. */
  stream: string;
  id: string;
  record: R;
}

export interface MergedSubscription<R> {
  /** The position when it attached (every stream at its reader's position, or at its start). */
  from: string;
  items: () => AsyncGenerator<MergedItem<R>>;
  close: () => void;
}

/** Where one stream starts, from a cursor that may not name it. */
function startOf(start: FeedStart, name: string, composite: boolean): string {
  if (start.kind === 'each') return start.id;
  const id = start.ids.get(name);
  if (id !== undefined) return id;
  // One stream holding every class (a single Redis): from the earliest position named, never a gap.
  if (!composite) return [...start.ids.values()].reduce((a, b) => (compareIds(a, b) <= 0 ? a : b));
  // A stream the cursor does not name (a class added since it was handed out): from its start.
  return '0-0';
}

/** Attaches to every stream of `o.streams` (handover steps 1-2 of each) and merges them. */
export async function openMerged<R>(feed: FeedTailers<R>, o: MergedOptions<R>): Promise<MergedSubscription<R>> {
  const composite = feed.composite;
  const positions = new Map<string, string>();
  const subs: { name: string; sub: TailSubscription<R> }[] = [];
  const encode = () => (composite ? encodeFeedCursor(positions) : (positions.values().next().value ?? '0-0'));
  let last = '';
  // A stream that falls behind ends the whole subscription, with the merged cursor to resume from.
  const onOverflow = (err: OrchestratorError) =>
    o.onOverflow(
      composite
        ? new OrchestratorError(
            err.code,
            `this stream fell behind (over ${o.maxBufferedEntries} entries or ${o.maxBufferedBytes} bytes waiting to be sent) and was ended; ` +
              `resume from the last cursor received (the last one sent was ${last || encode()})`,
            { retryable: true },
          )
        : err,
    );
  try {
    for (const s of o.streams) {
      const cursor = startOf(o.start, s.name, composite);
      const sub = await feed.of(s).open({ ...o, cursor, onOverflow });
      subs.push({ name: s.name, sub });
      positions.set(s.name, cursor === '$' ? sub.from : cursor.includes('-') ? cursor : `${cursor}-0`);
    }
  } catch (err) {
    for (const s of subs) s.sub.close();
    throw err;
  }
  const from = encode();
  const close = () => {
    for (const s of subs) s.sub.close();
  };

  async function* items(): AsyncGenerator<MergedItem<R>> {
    if (subs.length === 1 && !composite) {
      try {
        for await (const { id, record } of subs[0]!.sub.items()) yield { cursor: id, stream: subs[0]!.name, id, record };
      } finally {
        close();
      }
      return;
    }
    const its = subs.map((s) => s.sub.items());
    type Next = { i: number; r: IteratorResult<{ id: string; record: R }> };
    const next = (i: number): Promise<Next> => its[i]!.next().then((r) => ({ i, r }));
    const pending = new Map<number, Promise<Next>>();
    its.forEach((_, i) => pending.set(i, next(i)));
    try {
      while (pending.size > 0) {
        const { i, r } = await Promise.race(pending.values());
        // A stream ends only with the whole call (aborted, fallen behind, readers closed).
        if (r.done) return;
        positions.set(subs[i]!.name, r.value.id);
        pending.set(i, next(i));
        last = encode();
        yield { cursor: last, stream: subs[i]!.name, id: r.value.id, record: r.value.record };
      }
    } finally {
      close();
      for (const p of pending.values()) p.catch(() => undefined);
    }
  }

  return { from, items, close };
}
