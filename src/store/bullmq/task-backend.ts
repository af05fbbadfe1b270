/**
 * The queue backend a pool's Workers use: BullMQ's own Redis backend, with our writes folded into
 * the scripts that move a job, so that what the feeds say and what BullMQ records happen together
 * and cost no round trip of their own.
 *
 * - Finish: when an attempt ends for good (succeeded, failed for good, cancelled) the processor
 *   leaves its outcome in `PendingOutcomes`; BullMQ's `moveToFinished` then runs as part of our
 *   script, and the outcome's writes (final event, result, workflow inbox entry, count:
 *   src/store/outcome-writes.ts) run only when BullMQ's part finished the job. A pool that dies
 *   before leaves a task that runs again, never one that finished without a result; a run that
 *   lost its lock to the stall checker writes nothing, and the rerun elsewhere writes the one
 *   outcome. A workflow step's success also carries a step section (single Redis: the run's
 *   keys, the step, its attempt and its outcome as the run stores it), with which the finish
 *   applies the step when the run staged its releases (lua/includes/staged-step.lua); the key
 *   count of the finishes is therefore sent with each call.
 * - Start: when BullMQ's `moveToActive`, or the `moveToFinished` that fetches the next job, hands
 *   a job to this pool, the same script writes the attempt's "started" event and looks up a
 *   cancel requested while the task waited (a pool may have missed the cancel message). The
 *   answer travels back appended to the job's fields, is taken off before BullMQ reads them, and
 *   waits in `PendingStarts` for the processor. A job fetched another way (BullMQ's
 *   `moveToDelayed`, on a retry's backoff) is started by the processor itself
 *   (src/tasks/attempt-starts.ts).
 * - Stall: BullMQ's stall check writes the `stalled` event of each job it queues again in the
 *   same script, so the event always precedes the rerun's `started`.
 * - Retry: a retried attempt's `retrying` event (and the hand-back's) is written by the script
 *   that moves the job, only when BullMQ's part moved it, that is only by the run that still
 *   holds the job's lock.
 *
 * The scripts are src/store/lua/tasks/move-*.lua and retry-job.lua, each BullMQ's installed
 * script run as a function with our writes around it (installed-scripts.ts), so the two cannot
 * drift apart; they are written for script-layouts.ts's key and argument counts (ours follow
 * BullMQ's), which the start-up guard checks against the installed BullMQ and
 * test/task-scripts.test.ts against the scripts' headers. What we read from BullMQ's arguments
 * is found by name (script-layouts.ts). Every key shares the `{<prefix>}` hash tag, so they are
 * valid on a Redis Cluster too; the keys of ours a queue's scripts get are its class's own
 * (backendKeys: its streams, counters, workflow inbox and cancel hash, one each per class on a
 * cluster).
 */
import { createRedisBackend, type BackendFactory, type RedisQueueBackend } from 'bullmq';
import type { RedisClient } from '../../redis/redis-client.js';
import { Packr, unpack } from 'msgpackr';
import { eventFields, type TaskEventRecord, type TaskResultRecord } from '../codecs/feed-format.js';
import { OUTCOME_ARGS, outcomeArgv, outcomeKeys } from '../outcome-writes.js';
import type { Keys } from '../keys.js';
import { failureJson } from '../../errors/task-failure.js';
import { scriptSource } from '../store-script.js';
import { FinishPlainJobCode } from '../codes.js';
import { bullArgCount, bullArgIndex, bullKeyCount } from './script-layouts.js';
import { stepIdOf, stepOutcomeOf } from '../codecs/step-outcome.js';
import { runScriptKeys } from '../workflows/run-script-args.js';

/** BullMQ's moveToActive and moveToFinished: their key and argument counts (script-layouts.ts). */
const ACTIVE_KEYS = bullKeyCount('moveToActive');
const ACTIVE_ARGS = bullArgCount('moveToActive');
const FINISH_KEYS = bullKeyCount('moveToFinished');
const FINISH_ARGS = bullArgCount('moveToFinished');
/** BullMQ's moveStalledJobsToWait; its moveToDelayed and retryJob (the same keys, not arguments). */
const STALLED_KEYS = bullKeyCount('moveStalledJobsToWait');
const STALLED_ARGS = bullArgCount('moveStalledJobsToWait');
const RETRY_KEYS = bullKeyCount('moveToDelayed');
const DELAYED_ARGS = bullArgCount('moveToDelayed');
const RETRY_ARGS = bullArgCount('retryJob');
/** 0-based positions, in BullMQ's call (keys, then arguments), of what we read from its arguments. */
const FINISH_JOB_ID = FINISH_KEYS + bullArgIndex('moveToFinished', 'jobid') - 1;
const FINISH_OPTS = FINISH_KEYS + bullArgIndex('moveToFinished', 'opts') - 1;
const DELAYED_JOB_ID = RETRY_KEYS + bullArgIndex('moveToDelayed', 'the id of the job') - 1;
const RETRY_JOB_ID = RETRY_KEYS + bullArgIndex('retryJob', 'jobid') - 1;
const MOVE_TO_ACTIVE = 'orqMoveToActive';
const MOVE_STALLED = 'orqMoveStalledJobsToWait';
const MOVE_TO_DELAYED = 'orqMoveToDelayed';
const RETRY_JOB = 'orqRetryJob';
const MOVE_TO_FINISHED = 'orqMoveToFinished';
const FINISH_PLAIN_JOB = 'orqFinishPlainJob';
/** Fields appended to a fetched job's HGETALL reply (lua/includes/attempt-start.lua's). */
export const STARTED_FIELD = 'orqStarted';
export const CANCEL_FIELD = 'orqCancel';

/**
 * Defines the wrapped commands on the connection BullMQ's Workers are given. The scripts are
 * built here, not at import, so that a mismatched BullMQ is refused by the pool's start-up guard
 * (startup-guard.ts), with its message, before any script is built from it.
 */
export function defineTaskCommands(bullRedis: RedisClient): void {
  const r = bullRedis as unknown as Record<string, unknown>;
  const define = (command: string, numberOfKeys: number | undefined, script: string) => {
    if (typeof r[command] !== 'function')
      bullRedis.defineCommand(command, { ...(numberOfKeys === undefined ? {} : { numberOfKeys }), lua: scriptSource(script) });
  };
  define(MOVE_TO_ACTIVE, ACTIVE_KEYS + 2, 'tasks/move-to-active');
  // The finishes take a step section's run keys after their own (FINISH_KEYS + 5), when they
  // have one: the key count goes first in each call.
  define(MOVE_TO_FINISHED, undefined, 'tasks/move-to-finished');
  define(FINISH_PLAIN_JOB, undefined, 'tasks/finish-plain-job');
  define(MOVE_STALLED, STALLED_KEYS + 1, 'tasks/move-stalled');
  define(MOVE_TO_DELAYED, RETRY_KEYS + 2, 'tasks/move-to-delayed');
  define(RETRY_JOB, RETRY_KEYS + 2, 'tasks/retry-job');
}

/** The packer BullMQ's Redis backend uses; Redis's Lua reads it with cmsgpack. */
const packer = new Packr({ useRecords: false });

type Arg = string | number | Buffer;

/** What a run left for the script of its job's next move. */
export interface PendingWrites {
  kind: 'final' | 'retry';
  argv: Arg[];
  /**
   * A workflow step's success: the step section (lua/tasks/finish-plain-job.lua ARGV[20..23]:
   * run id, step id, attempt, the outcome as the run's outcomes hash stores it), which the
   * finish sends with the run's keys on a single Redis.
   */
  step?: { runId: string; argv: string[] };
}

/**
 * The outcomes processors left for BullMQ's next `moveToFinished` of each job, and the
 * `retrying` events for its next `moveToDelayed` or `retryJob`.
 */
export class PendingOutcomes {
  /**
   * job id -> run's lock token -> the writes. By run, not by job: a run that lost its lock may
   * still retry its refused finish (BullMQ retries a finish that met a dropped connection) while
   * a rerun of the same job on this pool leaves its own outcome; neither may take the other's.
   */
  private readonly byRun = new Map<string, Map<string, PendingWrites>>();

  constructor(private readonly opts: { eventsMaxLen: number; resultsMaxLen: number }) {}

  /** The run of `event.taskId` holding `token` ended for good with `result`: commit both with BullMQ's finish. */
  set(token: string, event: TaskEventRecord, result: TaskResultRecord): void {
    const argv = outcomeArgv(event, result, this.opts.eventsMaxLen, this.opts.resultsMaxLen);
    // Only a failure adds an argument: a success costs what it did.
    if (result.failure) argv.push(failureJson(result.failure));
    const stepId = result.state === 'succeeded' && result.workflowId ? stepIdOf(result.workflowId, result.taskId) : undefined;
    const step =
      stepId === undefined
        ? undefined
        : { runId: result.workflowId!, argv: [result.workflowId!, stepId, String(result.attempt), JSON.stringify(stepOutcomeOf(result))] };
    this.put(result.taskId, token, { kind: 'final', argv, ...(step ? { step } : {}) });
  }

  /**
   * The run of `event.taskId` holding `token` is retried (or handed back): its `retrying` event,
   * and the `counter` field to add one to when there is one, go with BullMQ's move of the job.
   */
  setRetry(token: string, event: TaskEventRecord, counter?: string): void {
    this.put(event.taskId, token, { kind: 'retry', argv: ['1', this.opts.eventsMaxLen, packer.pack(eventFields(event)) as Buffer, counter ?? ''] });
  }

  private put(taskId: string, token: string, writes: PendingWrites): void {
    let runs = this.byRun.get(taskId);
    if (!runs) this.byRun.set(taskId, (runs = new Map()));
    runs.set(token, writes);
  }

  /** What the run holding `token` left of `kind`, for the script BullMQ is about to run. */
  get(taskId: string, token: string, kind: 'final' | 'retry'): PendingWrites | undefined {
    const left = this.byRun.get(taskId)?.get(token);
    return left?.kind === kind ? left : undefined;
  }

  /** The script carrying `writes` ran: drop them (unless the run has left something newer since). */
  taken(taskId: string, token: string, writes: PendingWrites): void {
    const runs = this.byRun.get(taskId);
    if (!runs || runs.get(token) !== writes) return;
    runs.delete(token);
    if (runs.size === 0) this.byRun.delete(taskId);
  }

  /** Forget what earlier runs of `taskId` left (a new run starts: theirs would be refused anyway). */
  clear(taskId: string): void {
    this.byRun.delete(taskId);
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

  /**
   * A cancel requested of `taskId` while it is handed over here but not yet taken by the
   * processor: its start then reads `reason` (a cancel the script already found stays). Returns
   * whether the task was waiting here.
   */
  cancelPending(taskId: string, reason: string): boolean {
    if (!this.byJob.has(taskId)) return false;
    if (this.byJob.get(taskId) === null) this.byJob.set(taskId, reason);
    return true;
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

/** What we read of moveToFinished's packed worker options (its ARGV[8]). */
interface FinishOpts {
  token?: unknown;
  keepJobs?: { count?: unknown; age?: unknown };
  maxMetricsSize?: unknown;
}

/** moveToFinished's packed options, or {} when unreadable. */
function finishOpts(packed: unknown): FinishOpts {
  try {
    const opts = unpack(packed as Buffer) as unknown;
    return opts && typeof opts === 'object' ? (opts as FinishOpts) : {};
  } catch {
    return {};
  }
}

/**
 * Whether a finish with these options can take finish-plain-job.lua (BullMQ's moveToFinished
 * without retention and metrics): the job is kept (no count to keep, no age) and no metrics are
 * collected, as for every task's job (src/tasks/task-retention.ts removes them). Anything else,
 * and anything unreadable, takes move-to-finished.lua, BullMQ's whole script.
 */
function plainFinish(opts: FinishOpts): boolean {
  const keep = opts.keepJobs;
  if (!keep || typeof keep !== 'object') return false;
  const count = keep.count;
  return (count === undefined || (typeof count === 'number' && count < 0)) && keep.age === undefined && !opts.maxMetricsSize;
}

/**
 * The keys our wrapped scripts take after BullMQ's, for the queue of partition `part` of class
 * `name`: all of them the partition's own (its feeds, counters, inbox, cancel hash), so that each
 * script stays in the queue's slot once a class (partition) has a hash tag of its own
 * (test/class-slot-keys.test.ts).
 */
export function backendKeys(keys: Keys, name: string, part = 0): { active: string[]; finish: string[]; retry: string[]; stalled: string[] } {
  const events = keys.eventsOf(name, part);
  const cancel = keys.cancelOf(name, part);
  return {
    active: [events, cancel],
    finish: [...outcomeKeys(keys, name, part), cancel],
    retry: [events, keys.countersOf(name, part)],
    stalled: [events],
  };
}

/**
 * BullMQ's Redis backend with `moveToActive`, `moveToFinished`, `moveToDelayed`, `retryJob` and
 * `moveStalledJobsToWait` run by our wrapped scripts. What a run left for a move (its outcome,
 * its `retrying` event) is found by the run's lock token and dropped once the script ran,
 * whatever it answered (a lost lock is final for this run); a call that failed (a dropped
 * connection) keeps it, since BullMQ retries that move and the retry must carry it again.
 */
export function taskBackend(opts: TaskBackendOptions): BackendFactory<RedisQueueBackend> {
  const { keys, outcomes, starts } = opts;
  return (name, queueOpts, flags) => {
    const backend = createRedisBackend(name, queueOpts, flags);
    // A queue is a class (its name), or a partition of one (its prefix names which): its tasks'
    // events and results go to the class's (partition's) streams.
    // A prefix no partition has (a test's own) is taken as an unpartitioned class's.
    const part = keys.partitionOfQueuePrefix(name, String((queueOpts as { prefix?: string }).prefix ?? '')) ?? 0;
    const ours = backendKeys(keys, name, part);
    const [finishKeys, retryKeys] = [ours.finish, ours.retry];
    if (backend.moveToFinishedKeys.length !== FINISH_KEYS) {
      throw new Error(`this BullMQ's moveToFinished takes ${backend.moveToFinishedKeys.length} keys, not ${FINISH_KEYS}: see README "Upgrading BullMQ"`);
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
        const run = client.runCommand(MOVE_TO_ACTIVE, args(all, ACTIVE_KEYS, ACTIVE_ARGS, ours.active, startArgs)) as Promise<unknown>;
        return run.then((r) => (starts.fromReply(r), r));
      }
      if (command === 'moveToFinished') {
        const jobId = String(all[FINISH_JOB_ID]);
        const opts = finishOpts(all[FINISH_OPTS]);
        const token = String(opts.token ?? '');
        const outcome = outcomes.get(jobId, token, 'final');
        const extra: unknown[] = outcome ? [...startArgs, '1', ...outcome.argv] : [...startArgs, '0'];
        let ownKeys = finishKeys;
        // A step's success, on a single Redis: the step section, after an empty failure (ARGV[19]).
        if (outcome?.step && !keys.cluster) {
          ownKeys = [...finishKeys, ...runScriptKeys(keys, outcome.step.runId)];
          extra.push(...(outcome.argv.length === OUTCOME_ARGS ? [''] : []), ...outcome.step.argv);
        }
        const scriptArgs = [FINISH_KEYS + ownKeys.length, ...args(all, FINISH_KEYS, FINISH_ARGS, ownKeys, extra)];
        const whole = () => client.runCommand(MOVE_TO_FINISHED, scriptArgs) as Promise<unknown>;
        // The plain script answers NeedsFull, having written nothing, for a job with a parent,
        // children or a deduplication id: BullMQ's whole script then runs with the same keys and arguments.
        const run = plainFinish(opts)
          ? (client.runCommand(FINISH_PLAIN_JOB, scriptArgs) as Promise<unknown>).then((r) => (r === FinishPlainJobCode.NeedsFull ? whole() : r))
          : whole();
        return run.then((r) => {
          if (outcome) outcomes.taken(jobId, token, outcome);
          starts.fromReply(r);
          return r;
        });
      }
      if (command === 'moveStalledJobsToWait') {
        return client.runCommand(MOVE_STALLED, args(all, STALLED_KEYS, STALLED_ARGS, ours.stalled, startArgs));
      }
      if (command === 'moveToDelayed' || command === 'retryJob') {
        // The job id, then the token: moveToDelayed's ARGV[3] and [4], retryJob's ARGV[4] and [5].
        const at = command === 'moveToDelayed' ? DELAYED_JOB_ID : RETRY_JOB_ID;
        const [jobId, token] = [String(all[at]), String(all[at + 1])];
        const retry = outcomes.get(jobId, token, 'retry');
        const [name, n] = command === 'moveToDelayed' ? [MOVE_TO_DELAYED, DELAYED_ARGS] : [RETRY_JOB, RETRY_ARGS];
        const run = client.runCommand(name, args(all, RETRY_KEYS, n, retryKeys, retry?.argv ?? ['0'])) as Promise<unknown>;
        return run.then((r) => {
          if (retry) outcomes.taken(jobId, token, retry);
          return r;
        });
      }
      return bullExec(client, command, all);
    };
    return backend;
  };
}
