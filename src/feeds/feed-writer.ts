/**
 * Appends to the events and results streams, through the store's typed writes
 * (src/store/feeds/). Entries written in the same tick travel in one pipeline (the connection
 * auto-pipelines), so a task's final event and result cost one round trip together.
 */
import type { RedisClient } from '../redis/redis-client.js';
import { retryWhileSlotMoves } from '../redis/slot-moving.js';
import type { Keys } from '../store/keys.js';
import type { TaskEventRecord, TaskResultRecord } from '../store/codecs/feed-format.js';
import { addCount, type PlainCount } from '../store/feeds/add-count.js';
import { appendEvent } from '../store/feeds/append-event.js';
import { appendOutcome } from '../store/feeds/append-outcome.js';

export interface FeedWriterOptions {
  redis: RedisClient;
  keys: Keys;
  /** Approximate MAXLEN of the events stream. */
  eventsMaxLen: number;
  /** Approximate MAXLEN of the results stream. */
  resultsMaxLen: number;
}

export class FeedWriter {
  private readonly redis: RedisClient;
  private readonly appendEvent: ReturnType<typeof appendEvent>;
  private readonly addCount: ReturnType<typeof addCount>;
  private readonly appendOutcome: ReturnType<typeof appendOutcome>;

  constructor(opts: FeedWriterOptions) {
    this.redis = opts.redis;
    this.appendEvent = appendEvent(opts.redis, opts.keys, opts.eventsMaxLen);
    this.addCount = addCount(opts.redis, opts.keys);
    this.appendOutcome = appendOutcome(opts.redis, opts.keys, { events: opts.eventsMaxLen, results: opts.resultsMaxLen });
  }

  // One command each: on a Redis Cluster whose slot is being moved, an auto-pipeline can hand
  // back its redirection instead of following it; Redis ran nothing, so it is sent again
  // (src/redis/slot-moving.ts), rather than failing a task's progress report.
  async event(e: TaskEventRecord): Promise<void> {
    await retryWhileSlotMoves(this.redis, () => this.appendEvent(e));
  }

  /** Adds one to a cluster-wide count in the counters hash ("<kind>:<class>") of task `taskId`'s partition. */
  async count(kind: PlainCount, taskClass: string, taskId: string): Promise<void> {
    await retryWhileSlotMoves(this.redis, () => this.addCount(kind, taskClass, taskId));
  }

  /**
   * Write a final outcome: its event, its result and the finished count; a workflow's task also
   * its result on the workflow inbox, atomically with the rest (src/store/feeds/append-outcome.ts
   * says why only then).
   */
  async final(e: TaskEventRecord, r: TaskResultRecord): Promise<void> {
    await this.appendOutcome(e, r);
  }
}
