/**
 * The queue backend a pool's Workers use: BullMQ's own Redis backend, with our writes folded into
 * the scripts that move a job, so that what the feeds say and what BullMQ records happen together
 * and cost no round trip of their own.
 *
 * - Finish: when an attempt ends for good (succeeded, failed for good, cancelled) the processor
 *   leaves its outcome in `PendingOutcomes`; BullMQ's `moveToFinished` then runs as part of our
 *   script, and the outcome's writes (final event, result, workflow inbox entry, count:
 *   src/feeds/outcome-writes.ts) run only when BullMQ's part finished the job. A pool that dies
 *   before leaves a task that runs again, never one that finished without a result; a run that
 *   lost its lock to the stall checker writes nothing, and the rerun elsewhere writes the one
 *   outcome.
 * - Start: when BullMQ's `moveToActive`, or the `moveToFinished` that fetches the next job, hands
 *   a job to this pool, the same script writes the attempt's "started" event and looks up a
 *   cancel requested while the task waited (a pool may have missed the cancel message). The
 *   answer travels back appended to the job's fields, is taken off before BullMQ reads them, and
 *   waits in `PendingStarts` for the processor. A job fetched another way (BullMQ's
 *   `moveToDelayed`, on a retry's backoff) is started by the processor itself
 *   (src/tasks/attempt-starts.ts).
 *
 * The scripts are built from the installed BullMQ's own (src/redis/bullmq-scripts.ts), so the two
 * cannot drift apart. Every key shares the `{<prefix>}` hash tag, so they are valid on a Redis
 * Cluster too.
 */
import { createRedisBackend, type BackendFactory, type RedisQueueBackend } from 'bullmq';
import type { Redis } from 'ioredis';
import type { TaskEventRecord, TaskResultRecord } from '../src/feeds/feed-format.js';
import { outcomeArgv, outcomeKeys, outcomeWritesLua } from '../src/feeds/outcome-writes.js';
import type { Keys } from '../src/redis/keys.js';
import { bullmqFunction } from '../src/redis/bullmq-scripts.js';

/** BullMQ's moveToActive and moveToFinished: their key and argument counts. */
const ACTIVE_KEYS = 11;
const ACTIVE_ARGS = 3;
const FINISH_KEYS = 14;
const FINISH_ARGS = 9;
const MOVE_TO_ACTIVE = 'orqMoveToActive';
const MOVE_TO_FINISHED = 'orqMoveToFinished';
/** Fields appended to a fetched job's HGETALL reply. */
const STARTED_FIELD = 'orqStarted';
const CANCEL_FIELD = 'orqCancel';

/**
 * Lua function orqStart(r, e, c, a): when BullMQ's reply `r` hands over a job, writes its
 * "started" event (feed-format.ts's field order) to KEYS[e] and appends STARTED_FIELD, and the
 * cancel reason from the hash KEYS[c] when there is one, to the job's fields. ARGV[a], [a+1],
 * [a+2]: events MAXLEN, the class, the pool id. The attempt is attemptsBefore + attempts made +
 * 1; workflowId, attemptsBefore and scheduleId are read from the job data's JSON where only ours
 * can be (task-spec.ts keeps them after timeoutMs, workflowId last; payload values are strings).
 */
const START_LUA = `
local function orqStart(r, e, c, a)
  if type(r) ~= 'table' or type(r[1]) ~= 'table' or not r[2] or r[2] == 0 or r[2] == '0' or r[2] == '' then return end
  local h = r[1]
  local data, atm = '', 0
  for i = 1, #h, 2 do
    if h[i] == 'data' then data = h[i + 1] elseif h[i] == 'atm' then atm = tonumber(h[i + 1]) or 0 end
  end
  local before = tonumber(string.match(data, ',"attemptsBefore":(%d+)')) or 0
  local wf = string.match(data, ',"workflowId":"([^"]*)"}$')
  local sched = string.match(data, ',"timeoutMs":%d+,"scheduleId":"([^"]*)"')
  local t = redis.call('TIME')
  local ev = {'type', 'started', 'task_id', r[2], 'class', ARGV[a + 1], 'attempt', tostring(before + atm + 1), 'at', tostring(t[1] * 1000 + math.floor(t[2] / 1000))}
  if wf then ev[#ev + 1] = 'workflow_id'; ev[#ev + 1] = wf end
  ev[#ev + 1] = 'worker'; ev[#ev + 1] = ARGV[a + 2]
  if sched then ev[#ev + 1] = 'schedule_id'; ev[#ev + 1] = sched end
  redis.call('XADD', KEYS[e], 'MAXLEN', '~', ARGV[a], '*', unpack(ev))
  h[#h + 1] = '${STARTED_FIELD}'; h[#h + 1] = '1'
  local cancel = redis.call('HGET', KEYS[c], r[2])
  if cancel then h[#h + 1] = '${CANCEL_FIELD}'; h[#h + 1] = cancel end
end
`;

/**
 * KEYS[1..11] BullMQ's, KEYS[12] events stream, KEYS[13] cancel hash;
 * ARGV[1..3] BullMQ's, ARGV[4..6] the start's (see START_LUA).
 */
const ACTIVE_LUA = `
${bullmqFunction('bullmqMoveToActive', 'moveToActive', ACTIVE_KEYS)}
${START_LUA}
local r = bullmqMoveToActive(KEYS, ARGV)
orqStart(r, 12, 13, 4)
return r
`;

/**
 * KEYS[1..14] BullMQ's, KEYS[15..18] the outcome's (outcome-writes.ts), KEYS[19] cancel hash;
 * ARGV[1..9] BullMQ's, ARGV[10..12] the start's, ARGV[13] "1" when an outcome follows from ARGV[14].
 * BullMQ's part returns 0, or the next job as a table; a negative number is an error, and then
 * nothing of ours is written.
 */
const FINISH_LUA = `
${bullmqFunction('bullmqMoveToFinished', 'moveToFinished', FINISH_KEYS)}
${START_LUA}
local r = bullmqMoveToFinished(KEYS, ARGV)
if r == 0 or type(r) == 'table' then
  if ARGV[13] == '1' then
${outcomeWritesLua(FINISH_KEYS + 1, FINISH_ARGS + 5)}
  end
  orqStart(r, 15, 19, 10)
end
return r
`;

/** Defines the wrapped commands on the connection BullMQ's Workers are given. */
export function defineTaskCommands(bullRedis: Redis): void {
  const r = bullRedis as unknown as Record<string, unknown>;
  if (typeof r[MOVE_TO_ACTIVE] !== 'function') bullRedis.defineCommand(MOVE_TO_ACTIVE, { numberOfKeys: ACTIVE_KEYS + 2, lua: ACTIVE_LUA });
  if (typeof r[MOVE_TO_FINISHED] !== 'function') bullRedis.defineCommand(MOVE_TO_FINISHED, { numberOfKeys: FINISH_KEYS + 5, lua: FINISH_LUA });
}

/** The outcomes processors left for BullMQ's next `moveToFinished` of each job. */
export class PendingOutcomes {
  private readonly byJob = new Map<string, (string | number | Buffer)[]>();

  constructor(private readonly opts: { eventsMaxLen: number; resultsMaxLen: number }) {}

  /** The attempt of `event.taskId` ended for good with `result`: commit both with BullMQ's finish. */
  set(event: TaskEventRecord, result: TaskResultRecord): void {
    this.byJob.set(result.taskId, outcomeArgv(event, result, this.opts.eventsMaxLen, this.opts.resultsMaxLen));
  }

  /** Forget what an earlier attempt of `taskId` left (a new attempt starts). */
  clear(taskId: string): void {
    this.byJob.delete(taskId);
  }

  get(taskId: string): (string | number | Buffer)[] | undefined {
    return this.byJob.get(taskId);
  }
}

/** Starts written by the backend's scripts, for the processor: job id -> cancel reason or null. */
export class PendingStarts {
  private readonly byJob = new Map<string, string | null>();

  /** Takes what the script found when it started `taskId`; undefined when it did not start it. */
  take(taskId: string): { cancelReason: string | null } | undefined {
    if (!this.byJob.has(taskId)) return undefined;
    const cancelReason = this.byJob.get(taskId)!;
    this.byJob.delete(taskId);
    return { cancelReason };
  }

  /** Takes our fields off a BullMQ reply that hands over a job, and remembers its start. */
  fromReply(reply: unknown): void {
    if (!Array.isArray(reply) || !Array.isArray(reply[0]) || !reply[1]) return;
    const fields = reply[0] as unknown[];
    let started = false;
    let cancelReason: string | null = null;
    while (fields.length >= 2 && (fields[fields.length - 2] === STARTED_FIELD || fields[fields.length - 2] === CANCEL_FIELD)) {
      if (fields[fields.length - 2] === CANCEL_FIELD) cancelReason = String(fields[fields.length - 1]);
      else started = true;
      fields.length -= 2;
    }
    if (started) this.byJob.set(String(reply[1]), cancelReason);
  }
}

export interface TaskBackendOptions {
  keys: Keys;
  outcomes: PendingOutcomes;
  starts: PendingStarts;
  eventsMaxLen: number;
  /** This pool's id: the worker of its "started" events. */
  poolId: string;
}

/**
 * BullMQ's Redis backend with `moveToActive` and `moveToFinished` run by our wrapped scripts.
 * A finish's outcome is dropped once the script ran, whatever it answered (a lost lock is final
 * for this run); a call that failed (a dropped connection) keeps it, since BullMQ retries that
 * finish and the retry must carry it again.
 */
export function taskBackend(opts: TaskBackendOptions): BackendFactory<RedisQueueBackend> {
  const { keys, outcomes, starts } = opts;
  const finishKeys = [...outcomeKeys(keys), keys.cancel];
  return (name, queueOpts, flags) => {
    const backend = createRedisBackend(name, queueOpts, flags);
    if (backend.moveToFinishedKeys.length !== FINISH_KEYS) {
      throw new Error(
        `this BullMQ's moveToFinished takes ${backend.moveToFinishedKeys.length} keys, not ${FINISH_KEYS}: workers/task-backend.ts needs updating`,
      );
    }
    const startArgs = [opts.eventsMaxLen, name, opts.poolId];
    const bullExec = backend.execCommand.bind(backend);
    /** BullMQ's keys, then `ours`; BullMQ's arguments (padded to `n`), then `extra`. */
    const args = (all: unknown[], k: number, n: number, ours: string[], extra: unknown[]) => {
      const bullArgs = all.slice(k, k + n).map((a) => a ?? '');
      while (bullArgs.length < n) bullArgs.push('');
      return [...all.slice(0, k), ...ours, ...bullArgs, ...extra];
    };
    backend.execCommand = (client, command, all: unknown[]) => {
      if (command === 'moveToActive') {
        const run = client.runCommand(MOVE_TO_ACTIVE, args(all, ACTIVE_KEYS, ACTIVE_ARGS, [keys.events, keys.cancel], startArgs)) as Promise<unknown>;
        return run.then((r) => (starts.fromReply(r), r));
      }
      if (command === 'moveToFinished') {
        const jobId = String(all[FINISH_KEYS]);
        const outcome = outcomes.get(jobId);
        const extra = outcome ? [...startArgs, '1', ...outcome] : [...startArgs, '0'];
        const run = client.runCommand(MOVE_TO_FINISHED, args(all, FINISH_KEYS, FINISH_ARGS, finishKeys, extra)) as Promise<unknown>;
        return run.then((r) => {
          if (outcome && outcomes.get(jobId) === outcome) outcomes.clear(jobId);
          starts.fromReply(r);
          return r;
        });
      }
      return bullExec(client, command, all);
    };
    return backend;
  };
}
