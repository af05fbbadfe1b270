/**
 * What a pool writes when an attempt starts: its "started" event, and a look-up of a cancel
 * requested while the task waited (a pool that was down may have missed the cancel message).
 * Most starts are written by the script that hands the job over (src/store/bullmq/task-backend.ts); this
 * is for a job fetched another way (BullMQ's moveToDelayed fetching the next job after a retry's
 * backoff). The starts requested in one turn of the event loop go to Redis as one script call.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.js';
import { eventFields, type TaskEventRecord } from '../store/codecs/feed-format.js';
import { luaCommand } from '../store/lua-command.js';

/**
 * Applies a batch of attempt starts.
 * KEYS[1] events stream, KEYS[2] cancel hash. ARGV[1] events MAXLEN, then per start:
 * task_id, N, N fields of the "started" event. Returns each task's cancel reason (or nil).
 */
const BATCH = `
local out = {}
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, i + 2, i + 1 + n))
  out[#out + 1] = redis.call('HGET', KEYS[2], ARGV[i]) or false
  i = i + 2 + n
end
return out
`;

/** Most starts in one script call (Lua's unpack and the reply stay small). */
const MAX_BATCH = 128;

interface Op {
  args: (string | number)[];
  resolve(reply: string | null): void;
  reject(err: unknown): void;
}

type Script = (argv: (string | number)[]) => Promise<(string | null)[]>;

export interface AttemptStartsOptions {
  redis: Redis;
  keys: Keys;
  eventsMaxLen: number;
}

export class AttemptStarts {
  private readonly batch: Script;
  private queue: Op[] = [];
  private scheduled = false;

  constructor(private readonly opts: AttemptStartsOptions) {
    this.batch = luaCommand<Script>(opts.redis, BATCH, 2);
  }

  /** Writes the "started" event; resolves to the reason of a cancel requested meanwhile, or null. */
  start(started: TaskEventRecord): Promise<string | null> {
    const ev = eventFields(started);
    return new Promise((resolve, reject) => {
      this.queue.push({ args: [started.taskId, ev.length, ...ev], resolve, reject });
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
    const { keys } = this.opts;
    const argv: (string | number)[] = [keys.events, keys.cancel, this.opts.eventsMaxLen];
    for (const o of ops) for (const a of o.args) argv.push(a);
    this.batch(argv).then(
      (replies) => ops.forEach((o, i) => o.resolve(replies[i] ?? null)),
      (err: unknown) => ops.forEach((o) => o.reject(err)),
    );
  }
}
