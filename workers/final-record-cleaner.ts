/**
 * Deletes a task's final record (src/tasks/attempt-records.ts) once BullMQ has recorded the
 * attempt's end. The record only matters while the job is still active (a rerun replays it,
 * status reads it); left to its expiry, every task finished within the last few minutes would
 * keep a key, and Redis's key count would grow with throughput rather than with retention.
 *
 * Keys named in one turn of the event loop go in one UNLINK (they share the `{<prefix>}` hash
 * tag). A pool that dies first leaves the record to its expiry.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../src/redis/keys.js';
import type { Logger } from '../src/logging/logger.js';

export class FinalRecordCleaner {
  private pending: string[] = [];
  private scheduled = false;

  constructor(private readonly opts: { redis: Redis; keys: Keys; logger: Logger }) {}

  /** The attempt of `taskId` has ended in BullMQ's books (completed, or failed). */
  ended(taskId: string): void {
    this.pending.push(this.opts.keys.final(taskId));
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const keys = this.pending;
      this.pending = [];
      this.opts.redis.unlink(...keys).catch((err: unknown) => this.opts.logger.debug({ err }, 'could not delete final records (they expire)'));
    });
  }
}
