/**
 * Appends to the events and results streams. Entries written in the same tick travel in one
 * pipeline (the connection auto-pipelines), so a task's final event and result cost one round
 * trip together.
 */
import type { Redis, ChainableCommander } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { eventFields, resultFields, type TaskEventRecord, type TaskResultRecord } from './feed-format.js';

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

  /** Queue an event on a pipeline or MULTI (so it commits with other writes). */
  addEvent(pipe: ChainableCommander, e: TaskEventRecord): ChainableCommander {
    return pipe.xadd(this.opts.keys.events, 'MAXLEN', '~', this.opts.eventsMaxLen, '*', ...eventFields(e));
  }

  addResult(pipe: ChainableCommander, r: TaskResultRecord): ChainableCommander {
    return pipe.xadd(this.opts.keys.results, 'MAXLEN', '~', this.opts.resultsMaxLen, '*', ...resultFields(r));
  }

  async event(e: TaskEventRecord): Promise<void> {
    await this.opts.redis.xadd(this.opts.keys.events, 'MAXLEN', '~', this.opts.eventsMaxLen, '*', ...eventFields(e));
  }

  /** Write a final outcome: its event and its result, in one MULTI. */
  async final(e: TaskEventRecord, r: TaskResultRecord): Promise<void> {
    const multi = this.opts.redis.multi();
    this.addEvent(multi, e);
    this.addResult(multi, r);
    multi.hincrby(this.opts.keys.counters, `${r.state}:${r.taskClass}`, 1);
    await multi.exec();
  }
}
