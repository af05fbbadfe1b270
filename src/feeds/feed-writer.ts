/**
 * Appends to the events and results streams. Entries written in the same tick travel in one
 * pipeline (the connection auto-pipelines), so a task's final event and result cost one round
 * trip together.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.js';
import { eventFields, resultFields, type TaskEventRecord, type TaskResultRecord } from '../store/codecs/feed-format.js';

export interface FeedWriterOptions {
  redis: Redis;
  keys: Keys;
  /** Approximate MAXLEN of the events stream. */
  eventsMaxLen: number;
  /** Approximate MAXLEN of the results stream. */
  resultsMaxLen: number;
}

export class FeedWriter {
  constructor(private readonly opts: FeedWriterOptions) {}

  async event(e: TaskEventRecord): Promise<void> {
    await this.opts.redis.xadd(this.opts.keys.events, 'MAXLEN', '~', this.opts.eventsMaxLen, '*', ...eventFields(e));
  }

  /** Adds one to a cluster-wide count in the counters hash ("<kind>:<class>"). */
  async count(kind: 'retried' | 'timed_out', taskClass: string): Promise<void> {
    await this.opts.redis.hincrby(this.opts.keys.counters, `${kind}:${taskClass}`, 1);
  }

  /**
   * Write a final outcome: its event, its result and the finished count. No MULTI for a plain
   * task: the three go out in order on one auto-pipelined connection, and a reader that sees the
   * result entry without the event (a dropped connection between them) loses nothing it needs.
   * A workflow's task also puts the result on the workflow inbox, in a MULTI with the rest: a
   * result the engine never hears of would leave its run waiting.
   */
  async final(e: TaskEventRecord, r: TaskResultRecord): Promise<void> {
    const { redis, keys, eventsMaxLen, resultsMaxLen } = this.opts;
    const ev = eventFields(e);
    const res = resultFields(r);
    const counter = `${r.state}:${r.taskClass}`;
    if (!r.workflowId) {
      await Promise.all([
        redis.xadd(keys.events, 'MAXLEN', '~', eventsMaxLen, '*', ...ev),
        redis.xadd(keys.results, 'MAXLEN', '~', resultsMaxLen, '*', ...res),
        redis.hincrby(keys.counters, counter, 1),
      ]);
      return;
    }
    const replies = await redis
      .multi()
      .xadd(keys.events, 'MAXLEN', '~', eventsMaxLen, '*', ...ev)
      .xadd(keys.results, 'MAXLEN', '~', resultsMaxLen, '*', ...res)
      .hincrby(keys.counters, counter, 1)
      .xadd(keys.workflowInbox, '*', ...res)
      .exec();
    const failed = replies?.find(([err]) => err);
    if (failed) throw failed[0];
  }
}
