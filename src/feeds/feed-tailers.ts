/**
 * The shared readers of one feed (events or results): one StreamTailer per stream, started on
 * first use. On a single Redis a feed is one stream, so one reader; on a Redis Cluster one stream
 * per class (src/store/keys.ts), so one reader each. Each reader holds its own blocking
 * connection and reads its one stream: one XREAD over several streams fails with CROSSSLOT once
 * they live in different slots, and a blocking read of one stream never waits on another shard.
 * A subscription reads the streams it needs through these readers and merges them
 * (merged-feed.ts).
 */
import type { RedisClient } from '../redis/redis-client.js';
import type { Logger } from '../logging/logger.js';
import { classOfStream, type FeedStream } from '../store/keys.js';
import { StreamTailer } from './stream-tailer.js';

export interface FeedTailersOptions<R> {
  redisUrl: string;
  /** The shared, non-blocking connection catch-up reads use. */
  redis: RedisClient;
  /** Every stream of the feed, in the order merged cursors name them. */
  streams: readonly FeedStream[];
  /** Whether cursors are composite (several streams possible: a cluster) or plain entry ids (one stream). */
  composite: boolean;
  /**
   * The configured classes: the names a composite cursor may use (with "" for the workflow
   * events), on a single Redis too, where such a cursor resumes from its earliest position.
   */
  classes: Iterable<string>;
  /** Client name of the blocking connections: this for the stream named "", "<name>:<stream>" for the others. */
  name: string;
  parse: (fields: string[]) => R;
  taskIdOf?: (r: R) => string;
  logger: Logger;
  /** Longest one XREAD blocks. @default 5000 */
  blockMs?: number;
}

export class FeedTailers<R> {
  private readonly tailers = new Map<string, StreamTailer<R>>();
  private readonly byName = new Map<string, FeedStream>();
  /** What a composite cursor may name. */
  readonly cursorNames: ReadonlySet<string>;
  private closed = false;

  constructor(private readonly opts: FeedTailersOptions<R>) {
    for (const s of opts.streams) this.byName.set(s.name, s);
    // A partitioned class's partitions p > 0 are streams of their own, named "<class>.<p>".
    this.cursorNames = new Set(['', ...opts.classes, ...opts.streams.map((s) => s.name)]);
  }

  /** Cursors of this feed are composite (a cluster), not plain entry ids. */
  get composite(): boolean {
    return this.opts.composite;
  }

  /** Every stream of the feed. */
  get streams(): readonly FeedStream[] {
    return this.opts.streams;
  }

  /** The feed's stream called `name`, if it has one. */
  stream(name: string): FeedStream | undefined {
    return this.byName.get(name);
  }

  /** The feed's streams of class `taskClass` (one per partition of a partitioned class). */
  streamsOf(taskClass: string): FeedStream[] {
    return this.opts.streams.filter((s) => classOfStream(s.name) === taskClass);
  }

  /** The shared reader of `stream`. */
  of(stream: FeedStream): StreamTailer<R> {
    let t = this.tailers.get(stream.key);
    if (!t) {
      if (this.closed) throw new Error('the feed readers are closed');
      const o = this.opts;
      t = new StreamTailer({
        redisUrl: o.redisUrl,
        redis: o.redis,
        key: stream.key,
        name: stream.name ? `${o.name}:${stream.name}` : o.name,
        parse: o.parse,
        taskIdOf: o.taskIdOf,
        logger: o.logger,
        blockMs: o.blockMs,
      });
      this.tailers.set(stream.key, t);
    }
    return t;
  }

  /** Subscribers attached to the readers now. */
  get subscribers(): number {
    let n = 0;
    for (const t of this.tailers.values()) n += t.subscribers;
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.tailers.values()].map((t) => t.close()));
  }
}
