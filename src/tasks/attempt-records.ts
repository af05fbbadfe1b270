/**
 * What a pool writes around one attempt, each side in one Lua script so an attempt costs two
 * calls: the start (its event, plus two look-ups) and the finish (its final record, event,
 * result and count). All keys share the `{<prefix>}` hash tag, so this works on a Redis Cluster.
 *
 * The final record (`{<prefix>}:final:<task_id>`, expiring) exists because the finish is
 * written before BullMQ is told the attempt ended: a pool dying in between causes a rerun,
 * never a task that finished without a result. The record closes the two gaps that order leaves:
 * - GetTaskStatus: between the result entry and BullMQ's own bookkeeping the job is still
 *   "active"; the record lets status answer with the outcome the feeds already show.
 * - Reruns: a pool starting an attempt already recorded as finished (its first pool died after
 *   writing the outcome) replays the recorded outcome instead of running the task again.
 * A record is valid only for the attempt it names. It expires once no rerun can still come
 * (the class's lock duration plus two stall checks, plus a minute).
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { eventFields, resultFields, type TaskEventRecord, type TaskResultRecord } from '../feeds/feed-format.js';

/**
 * KEYS[1] events stream, KEYS[2] cancel hash, KEYS[3] final record
 * ARGV[1] events MAXLEN, ARGV[2] task id, ARGV[3..] the "started" event's fields
 * Returns {cancel reason or nil, final record JSON or nil}.
 */
const START = `
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
return {redis.call('HGET', KEYS[2], ARGV[2]), redis.call('GET', KEYS[3])}
`;

/**
 * KEYS[1] final record, KEYS[2] events stream, KEYS[3] results stream, KEYS[4] counters hash
 * ARGV[1] record TTL ms, ARGV[2] record JSON, ARGV[3] events MAXLEN, ARGV[4] results MAXLEN,
 * ARGV[5] counter field, ARGV[6] N = number of event fields, ARGV[7..6+N] event fields,
 * ARGV[7+N..] result fields. Returns 1.
 */
const FINISH = `
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
local n = tonumber(ARGV[6])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 7, 6 + n))
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', unpack(ARGV, 7 + n))
redis.call('HINCRBY', KEYS[4], ARGV[5], 1)
return 1
`;

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

export class AttemptRecords {
  private readonly start_: Script;
  private readonly finish_: Script;

  constructor(private readonly opts: AttemptRecordsOptions) {
    const r = opts.redis as Redis & Record<string, Script>;
    if (!('orqAttemptStart' in r)) r.defineCommand('orqAttemptStart', { numberOfKeys: 3, lua: START });
    if (!('orqAttemptFinish' in r)) r.defineCommand('orqAttemptFinish', { numberOfKeys: 4, lua: FINISH });
    this.start_ = (...a) => r.orqAttemptStart!(...a);
    this.finish_ = (...a) => r.orqAttemptFinish!(...a);
  }

  /** Write the "started" event; learn of a pending cancel and of an already recorded finish. */
  async start(started: TaskEventRecord): Promise<AttemptStart> {
    const { keys } = this.opts;
    const [cancelReason, final] = (await this.start_(
      keys.events,
      keys.cancel,
      keys.final(started.taskId),
      this.opts.eventsMaxLen,
      started.taskId,
      ...eventFields(started),
    )) as [string | null, string | null];
    return { cancelReason, recorded: parseRecord(final, started.attempt) };
  }

  /** Record the final outcome and write its event, result and count, atomically. */
  async finish(event: TaskEventRecord, result: TaskResultRecord, recordTtlMs: number): Promise<void> {
    const { keys } = this.opts;
    const ev = eventFields(event);
    await this.finish_(
      keys.final(result.taskId),
      keys.events,
      keys.results,
      keys.counters,
      recordTtlMs,
      JSON.stringify(result),
      this.opts.eventsMaxLen,
      this.opts.resultsMaxLen,
      `${result.state}:${result.taskClass}`,
      ev.length,
      ...ev,
      ...resultFields(result),
    );
  }
}
