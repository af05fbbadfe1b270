/**
 * What a pool writes around one attempt: the start (its event, plus two look-ups) and the finish
 * (its final record, event, result and count), each applied atomically by one Lua script that
 * takes a whole batch of them. All keys share the `{<prefix>}` hash tag, so this works on a
 * Redis Cluster.
 *
 * The final record (`{<prefix>}:final:<task_id>`, expiring) exists because the finish is
 * written before BullMQ is told the attempt ended: a pool dying in between causes a rerun,
 * never a task that finished without a result. The record closes the two gaps that order leaves:
 * - GetTaskStatus: between the result entry and BullMQ's own bookkeeping the job is still
 *   "active"; the record lets status answer with the outcome the feeds already show.
 * - Reruns: a pool starting an attempt already recorded as finished (its first pool died after
 *   writing the outcome) replays the recorded outcome instead of running the task again.
 * A record is valid only for the attempt it names. It expires once no rerun can still come
 * (the class's lock duration plus two stall checks, plus a minute); the pool deletes it sooner,
 * as soon as BullMQ has recorded the attempt's end (workers/final-record-cleaner.ts).
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { eventFields, resultFields, type TaskEventRecord, type TaskResultRecord } from '../feeds/feed-format.js';

/**
 * Applies a batch of attempt starts and finishes.
 * KEYS[1] events stream, KEYS[2] results stream, KEYS[3] counters hash, KEYS[4] cancel hash,
 * KEYS[5] workflow inbox stream, KEYS[5 + i] the final record of the task of op i.
 * ARGV[1] events MAXLEN, ARGV[2] results MAXLEN, then the ops:
 *   "S", task_id, N, N fields of the "started" event
 *       -> {cancel reason or nil, final record JSON or nil}
 *   "F", record TTL ms, record JSON, counter field, N, N event fields, M, M result fields,
 *        "1" when the result also goes to the workflow inbox (the task is a workflow's) else "0"
 *       -> 1
 * Returns one reply per op, in order.
 */
const BATCH = `
local out = {}
local i = 3
local k = 6
while i <= #ARGV do
  if ARGV[i] == 'S' then
    local n = tonumber(ARGV[i + 2])
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, i + 3, i + 2 + n))
    out[#out + 1] = {redis.call('HGET', KEYS[4], ARGV[i + 1]), redis.call('GET', KEYS[k])}
    i = i + 3 + n
  else
    redis.call('SET', KEYS[k], ARGV[i + 2], 'PX', ARGV[i + 1])
    local n = tonumber(ARGV[i + 4])
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, i + 5, i + 4 + n))
    local j = i + 5 + n
    local m = tonumber(ARGV[j])
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, j + 1, j + m))
    if ARGV[j + m + 1] == '1' then redis.call('XADD', KEYS[5], '*', unpack(ARGV, j + 1, j + m)) end
    redis.call('HINCRBY', KEYS[3], ARGV[i + 3], 1)
    out[#out + 1] = 1
    i = j + m + 2
  end
  k = k + 1
end
return out
`;

/** Most ops in one script call (Lua's unpack and the reply stay small). */
const MAX_BATCH = 128;

interface Op {
  finalKey: string;
  args: (string | number)[];
  resolve(reply: unknown): void;
  reject(err: unknown): void;
}

type Script = (...args: (string | number)[]) => Promise<unknown>;

export interface AttemptRecordsOptions {
  redis: Redis;
  keys: Keys;
  eventsMaxLen: number;
  resultsMaxLen: number;
}

export interface AttemptStart {
  /** Set when a cancel was requested while the task waited. */
  cancelReason: string | null;
  /** Set when this very attempt already finished on a pool that died before BullMQ heard. */
  recorded?: TaskResultRecord;
}

/** The recorded outcome of `attempt`, if `raw` is one. */
export function parseRecord(raw: string | null | undefined, attempt: number): TaskResultRecord | undefined {
  if (!raw) return undefined;
  try {
    const r = JSON.parse(raw) as TaskResultRecord;
    return r.attempt === attempt ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Group commit: the starts and finishes requested in one turn of the event loop, by all the
 * attempts a pool runs at once, go to Redis as one script call. A pool at full concurrency then
 * pays one command per batch instead of two per task.
 */
export class AttemptRecords {
  private readonly batch: Script;
  private queue: Op[] = [];
  private scheduled = false;

  constructor(private readonly opts: AttemptRecordsOptions) {
    const r = opts.redis as Redis & Record<string, Script>;
    if (!('orqAttempts' in r)) r.defineCommand('orqAttempts', { lua: BATCH });
    this.batch = (...a) => r.orqAttempts!(...a);
  }

  /** Write the "started" event; learn of a pending cancel and of an already recorded finish. */
  async start(started: TaskEventRecord): Promise<AttemptStart> {
    const ev = eventFields(started);
    const [cancelReason, final] = (await this.enqueue(this.opts.keys.final(started.taskId), ['S', started.taskId, ev.length, ...ev])) as [
      string | null,
      string | null,
    ];
    return { cancelReason, recorded: parseRecord(final, started.attempt) };
  }

  /** Record the final outcome and write its event, result and count, atomically. */
  async finish(event: TaskEventRecord, result: TaskResultRecord, recordTtlMs: number): Promise<void> {
    const ev = eventFields(event);
    const res = resultFields(result);
    await this.enqueue(this.opts.keys.final(result.taskId), [
      'F',
      recordTtlMs,
      JSON.stringify(result),
      `${result.state}:${result.taskClass}`,
      ev.length,
      ...ev,
      res.length,
      ...res,
      result.workflowId ? '1' : '0',
    ]);
  }

  private enqueue(finalKey: string, args: (string | number)[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ finalKey, args, resolve, reject });
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
    const keyList = [keys.events, keys.results, keys.counters, keys.cancel, keys.workflowInbox, ...ops.map((o) => o.finalKey)];
    const argv: (string | number)[] = [this.opts.eventsMaxLen, this.opts.resultsMaxLen];
    for (const o of ops) for (const a of o.args) argv.push(a);
    this.batch(keyList.length, ...keyList, ...argv).then(
      (replies) => ops.forEach((o, i) => o.resolve((replies as unknown[])[i])),
      (err: unknown) => ops.forEach((o) => o.reject(err)),
    );
  }
}
