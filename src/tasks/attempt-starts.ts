/**
 * What a pool writes when an attempt starts: its "started" event, and a look-up of a cancel
 * requested while the task waited (a pool that was down may have missed the cancel message).
 * Most starts are written by the script that hands the job over (src/store/bullmq/task-backend.ts); this
 * is for a job fetched another way (BullMQ's moveToDelayed fetching the next job after a retry's
 * backoff). The starts requested in one turn of the event loop go to Redis as one script call.
 */
import type { RedisClient } from '../redis/redis-client.js';
import type { Keys } from '../store/keys.js';
import type { TaskEventRecord } from '../store/codecs/feed-format.js';
import { startAttempts } from '../store/tasks/start-attempts.js';

/** Most starts in one script call (Lua's unpack and the reply stay small). */
const MAX_BATCH = 128;

interface Op {
  started: TaskEventRecord;
  resolve(reply: string | null): void;
  reject(err: unknown): void;
}

/** lua/tasks/start-attempts.lua: one script call per batch. */
type Script = (starts: readonly TaskEventRecord[]) => Promise<(string | null)[]>;

export interface AttemptStartsOptions {
  redis: RedisClient;
  keys: Keys;
  eventsMaxLen: number;
}

export class AttemptStarts {
  private readonly batch: Script;
  private queue: Op[] = [];
  private scheduled = false;

  constructor(opts: AttemptStartsOptions) {
    this.batch = startAttempts(opts.redis, opts.keys, opts.eventsMaxLen);
  }

  /** Writes the "started" event; resolves to the reason of a cancel requested meanwhile, or null. */
  start(started: TaskEventRecord): Promise<string | null> {
    return new Promise((resolve, reject) => {
      this.queue.push({ started, resolve, reject });
      if (this.queue.length >= MAX_BATCH) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const ops = this.queue;
    if (ops.length === 0) return;
    this.queue = [];
    this.batch(ops.map((o) => o.started)).then(
      (replies) => ops.forEach((o, i) => o.resolve(replies[i]!)),
      (err: unknown) => ops.forEach((o) => o.reject(err)),
    );
  }
}
