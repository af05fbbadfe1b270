/**
 * One shared reader per Redis stream, fanned out in-process to every subscriber.
 *
 * Before, each StreamEvents / StreamTaskResults call held its own blocking connection, so Redis
 * connections grew with subscribers until `maxclients` refused pools and front ends. Now each
 * stream has ONE blocking connection running XREAD BLOCK from the tailer's position; every
 * entry it reads is parsed once and handed to every subscriber whose filter takes it. Each
 * subscriber keeps its own cursor and a bounded buffer.
 *
 * Handover contract (why a subscriber from an old cursor sees every entry exactly once):
 *   1. the tailer knows its position P before any subscriber joins (it reads the stream's last
 *      id first), and from then on hands out every entry after P, in id order;
 *   2. a subscriber is added to the fan-out synchronously, between two replies of the tailer: every
 *      entry fanned out after that lands in its live buffer, and every entry fanned out before it
 *      was already in Redis;
 *   3. it then catches up from its cursor with non-blocking XRANGE reads on the shared command
 *      connection until a page comes back short (the stream's end at that moment), so it has read
 *      every entry the live buffer lacks;
 *   4. it delivers the live buffer, skipping ids at or below the last it delivered: ids only grow,
 *      so nothing is missed and nothing is repeated.
 * A subscriber from "$" (only new entries) skips step 3.
 *
 * A subscriber that cannot keep up (its buffer reaches the entry or byte cap, e.g. because its
 * client stopped reading) is dropped: `onOverflow` is told, with the cursor to resume from, and
 * the tailer stops buffering for it. Everything it missed is still in the stream (until MAXLEN
 * trims it), so resuming from that cursor misses nothing still retained.
 */
import type { RedisClient } from '../redis/redis-client.js';
import { createRedis } from '../redis/connection.js';
import type { Logger } from '../logging/logger.js';
import { OrchestratorError } from '../errors/errors.js';
import type { RawEntry } from '../store/codecs/feed-format.js';

/** Orders two stream ids ("<ms>-<seq>", or "<ms>" meaning "<ms>-0"). */
export function compareIds(a: string, b: string): number {
  const [am, as = '0'] = a.split('-');
  const [bm, bs = '0'] = b.split('-');
  const ms = BigInt(am!) - BigInt(bm!);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const s = BigInt(as) - BigInt(bs);
  return s === 0n ? 0 : s < 0n ? -1 : 1;
}

export interface StreamTailerOptions<R> {
  redisUrl: string;
  /** The shared, non-blocking connection catch-up reads use. */
  redis: RedisClient;
  key: string;
  /** The blocking connection's client name (CLIENT LIST), e.g. "orq-tail-events". */
  name: string;
  /** Parses an entry once for every subscriber (feed-format.ts, so its decoding rules apply). */
  parse: (fields: string[]) => R;
  logger: Logger;
  /** The task id of a record, for subscribers that name task ids (see SubscribeOptions.taskIds). */
  taskIdOf?: (r: R) => string;
  /** Entries per XREAD / XRANGE. @default 500 */
  batch?: number;
  /** Longest one XREAD blocks. @default 5000 */
  blockMs?: number;
}

export interface SubscribeOptions<R> {
  /** Exclusive start: entries after this id; "$" for only entries written from now. */
  cursor: string;
  /** Whether the subscriber wants this record. */
  match: (r: R) => boolean;
  /**
   * When set, only records whose task id is in this set can match: the tailer indexes the
   * subscriber by these ids, so a fan-out to many waitForResult callers costs one map look-up.
   */
  taskIds?: ReadonlySet<string>;
  /** Buffered records beyond which the subscriber is dropped. */
  maxBufferedEntries: number;
  /** Buffered bytes (of the raw entries) beyond which the subscriber is dropped; one entry always fits. */
  maxBufferedBytes: number;
  signal: AbortSignal;
  /** Called once when the buffer overflows, with the error to end the call with. */
  onOverflow: (err: OrchestratorError) => void;
}

export interface TailSubscription<R> {
  /** The tailer's position when the subscriber attached. */
  from: string;
  items: () => AsyncGenerator<{ id: string; record: R }>;
  close: () => void;
}

interface Buffered<R> {
  id: string;
  record: R;
  bytes: number;
}

interface Subscriber<R> {
  opts: SubscribeOptions<R>;
  buffer: Buffered<R>[];
  bytes: number;
  /** The id of the last record handed to the consumer (or skipped by catch-up). */
  delivered: string;
  /** Dropped for falling behind, or closed by its owner: the consumer loop ends. */
  dropped: boolean;
  /** Reading history with XRANGE (handover step 3), not yet from the live buffer. */
  catchingUp: boolean;
  /** Taken off the fan-out while catching up, its live buffer having overflowed. */
  detached: boolean;
  wake?: () => void;
}

const entryBytes = (e: RawEntry): number => {
  let n = e[0].length;
  for (const f of e[1]) n += f.length;
  return n;
};

/** Longest close() waits for the reading loop to notice. */
const CLOSE_WAIT_MS = 1_000;

export class StreamTailer<R> {
  private readonly general = new Set<Subscriber<R>>();
  private readonly byTask = new Map<string, Set<Subscriber<R>>>();
  private blocking?: RedisClient;
  private ready?: Promise<void>;
  private position = '0-0';
  private closed = false;
  private loop?: Promise<void>;
  private readonly log: Logger;

  constructor(private readonly opts: StreamTailerOptions<R>) {
    this.log = opts.logger.child({ component: 'stream-tailer', stream: opts.key });
  }

  /** Subscribers currently attached (a gauge for tests and metrics). */
  get subscribers(): number {
    let n = this.general.size;
    for (const s of this.byTask.values()) n += s.size;
    return n;
  }

  /** Starts the shared reader on first use; resolves once its position is known. */
  private start(): Promise<void> {
    if (this.ready) return this.ready;
    // Never shared nor auto-pipelined: an XREAD BLOCK holds its connection.
    const blocking = (this.blocking = createRedis(this.opts.redisUrl, { connectionName: this.opts.name }));
    this.ready = (async () => {
      const last = (await blocking.xrevrange(this.opts.key, '+', '-', 'COUNT', 1)) as RawEntry[];
      this.position = last[0]?.[0] ?? '0-0';
    })();
    // A failed start is retried by the next subscriber.
    this.ready.then(
      () => (this.loop = this.run()),
      () => {
        this.ready = undefined;
        blocking.disconnect();
      },
    );
    return this.ready;
  }

  private async run(): Promise<void> {
    const blocking = this.blocking!;
    let failures = 0;
    while (!this.closed) {
      let reply: [string, RawEntry[]][] | null;
      try {
        reply = (await blocking.xread('COUNT', this.opts.batch ?? 500, 'BLOCK', this.opts.blockMs ?? 5_000, 'STREAMS', this.opts.key, this.position)) as
          [string, RawEntry[]][] | null;
        failures = 0;
      } catch (err) {
        if (this.closed) return;
        // ioredis reconnects by itself; subscribers wait rather than fail, as a pool does.
        failures++;
        if (failures === 1) this.log.warn({ err }, 'stream read failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures, 2_000)));
        continue;
      }
      for (const entry of reply?.[0]?.[1] ?? []) {
        this.position = entry[0];
        this.fanOut(entry);
      }
    }
  }

  private fanOut(entry: RawEntry): void {
    if (this.general.size === 0 && this.byTask.size === 0) return;
    let record: R;
    try {
      record = this.opts.parse(entry[1]);
    } catch (err) {
      this.log.warn({ err, id: entry[0] }, 'stream entry not decodable; skipped');
      return;
    }
    const bytes = entryBytes(entry);
    for (const sub of this.general) this.offer(sub, entry[0], record, bytes);
    if (this.byTask.size && this.opts.taskIdOf) {
      const subs = this.byTask.get(this.opts.taskIdOf(record));
      if (subs) for (const sub of subs) this.offer(sub, entry[0], record, bytes);
    }
  }

  private offer(sub: Subscriber<R>, id: string, record: R, bytes: number): void {
    if (sub.dropped || sub.detached || !sub.opts.match(record)) return;
    const o = sub.opts;
    if (sub.buffer.length > 0 && (sub.buffer.length >= o.maxBufferedEntries || sub.bytes + bytes > o.maxBufferedBytes)) {
      this.detach(sub);
      sub.buffer = [];
      sub.bytes = 0;
      if (sub.catchingUp) {
        // Still reading history: what overflowed is in Redis too, and the catch-up reads it there
        // (stepping back onto the live tail when it reaches the end).
        sub.detached = true;
        return;
      }
      sub.dropped = true;
      o.onOverflow(
        new OrchestratorError(
          'resource_exhausted',
          `this stream fell behind (over ${o.maxBufferedEntries} entries or ${o.maxBufferedBytes} bytes waiting to be sent) and was ended; ` +
            `resume from the last cursor received (the last one sent was ${sub.delivered})`,
          { retryable: true },
        ),
      );
      sub.wake?.();
      return;
    }
    sub.buffer.push({ id, record, bytes });
    sub.bytes += bytes;
    sub.wake?.();
  }

  private attach(sub: Subscriber<R>): void {
    const ids = sub.opts.taskIds;
    if (!ids || !this.opts.taskIdOf) {
      this.general.add(sub);
      return;
    }
    for (const id of ids) {
      let set = this.byTask.get(id);
      if (!set) this.byTask.set(id, (set = new Set()));
      set.add(sub);
    }
  }

  private detach(sub: Subscriber<R>): void {
    this.general.delete(sub);
    for (const id of sub.opts.taskIds ?? []) {
      const set = this.byTask.get(id);
      if (!set) continue;
      set.delete(sub);
      if (set.size === 0) this.byTask.delete(id);
    }
  }

  /**
   * Attaches a subscriber (steps 1-2 of the handover) and returns its handle: `from` is the
   * tailer's position when it attached (everything after it reaches the live buffer), `items()`
   * yields records after `cursor` that match, then new ones, until the signal aborts or the
   * subscriber overflows. `close()` detaches it (also when items() was never iterated).
   */
  async open(o: SubscribeOptions<R>): Promise<TailSubscription<R>> {
    await this.start();
    // From "$": everything after the tailer's position reaches the live buffer, so that position
    // is this subscriber's cursor (and the one to resume from should it fall behind at once).
    const sub: Subscriber<R> = { opts: o, buffer: [], bytes: 0, delivered: this.position, dropped: false, catchingUp: o.cursor !== '$', detached: false };
    const from = this.position;
    if (!o.signal.aborted) this.attach(sub);
    const onAbort = () => sub.wake?.();
    o.signal.addEventListener('abort', onAbort, { once: true });
    const close = () => {
      o.signal.removeEventListener('abort', onAbort);
      this.detach(sub);
      sub.buffer = [];
      sub.bytes = 0;
      sub.dropped = true;
      sub.wake?.();
    };
    const catchUp = (s: Subscriber<R>) => this.catchUp(s);
    async function* items(): AsyncGenerator<{ id: string; record: R }> {
      try {
        if (o.cursor !== '$') {
          sub.delivered = o.cursor.includes('-') ? o.cursor : `${o.cursor}-0`;
          yield* catchUp(sub);
        }
        while (!o.signal.aborted && !sub.dropped) {
          const next = sub.buffer.shift();
          if (!next) {
            await new Promise<void>((resolve) => (sub.wake = resolve));
            sub.wake = undefined;
            continue;
          }
          sub.bytes -= next.bytes;
          if (compareIds(next.id, sub.delivered) <= 0) continue;
          sub.delivered = next.id;
          yield { id: next.id, record: next.record };
        }
      } finally {
        close();
      }
    }
    return { from, items, close };
  }

  /** open() and items() in one, for a subscriber that needs nothing between them. */
  async *subscribe(o: SubscribeOptions<R>): AsyncGenerator<{ id: string; record: R }> {
    const s = await this.open(o);
    try {
      yield* s.items();
    } finally {
      s.close();
    }
  }

  /**
   * Step 3 of the handover: XRANGE pages from the subscriber's cursor to the stream's end. A
   * subscriber whose live buffer overflowed meanwhile (a long history, or a burst of new entries)
   * was detached: at the end it attaches again (step 2) and reads on until a short page, so the
   * handover holds again.
   */
  private async *catchUp(sub: Subscriber<R>): AsyncGenerator<{ id: string; record: R }> {
    try {
      yield* this.readHistory(sub);
    } finally {
      sub.catchingUp = false;
    }
  }

  private async *readHistory(sub: Subscriber<R>): AsyncGenerator<{ id: string; record: R }> {
    const batch = this.opts.batch ?? 500;
    const o = sub.opts;
    for (;;) {
      const page = (await this.opts.redis.xrange(this.opts.key, `(${sub.delivered}`, '+', 'COUNT', batch)) as RawEntry[];
      for (const [id, fields] of page) {
        if (o.signal.aborted || sub.dropped) return;
        sub.delivered = id;
        let record: R;
        try {
          record = this.opts.parse(fields);
        } catch (err) {
          this.log.warn({ err, id }, 'stream entry not decodable; skipped');
          continue;
        }
        if (o.taskIds && this.opts.taskIdOf && !o.taskIds.has(this.opts.taskIdOf(record))) continue;
        if (o.match(record)) yield { id, record };
      }
      if (sub.detached) {
        if (page.length < batch) {
          // At the end: back on the fan-out, then one more round to the end (handover step 3).
          sub.detached = false;
          this.attach(sub);
        }
        continue;
      }
      // A short page is the stream's end when it was read: what follows is in the live buffer.
      if (page.length < batch) return;
      // Already past what the live buffer starts with: the rest comes from there.
      const first = sub.buffer[0];
      if (first && compareIds(sub.delivered, first.id) >= 0) return;
    }
  }

  /** Stops the reader; attached subscribers end as if their calls were cancelled. */
  async close(): Promise<void> {
    this.closed = true;
    for (const sub of [...this.general, ...[...this.byTask.values()].flatMap((s) => [...s])]) {
      sub.dropped = true;
      sub.wake?.();
    }
    this.general.clear();
    this.byTask.clear();
    this.blocking?.disconnect();
    // With Redis unreachable, ioredis may never settle the XREAD it holds (a command waiting on a
    // connection that is between reconnects is not failed by disconnect()): wait for the loop a
    // moment, never for ever.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loop?.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
  }
}
