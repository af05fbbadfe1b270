/**
 * An attempt's outcome and BullMQ's record of it, committed by one script.
 *
 * When an attempt ends for good (succeeded, failed for good, cancelled) the pool writes its final
 * event, its result (also to the workflow inbox for a workflow's task) and the finished count;
 * BullMQ moves the job to completed or failed. Done as two writes, a pool dying between them
 * leaves one without the other: a result for a task BullMQ still runs, or a finished job with no
 * result. Here BullMQ's own `moveToFinished` script is wrapped: our writes run in the same
 * script, after BullMQ's part and only when it succeeded (a pool that lost the task's lock to
 * the stall checker writes nothing, and the rerun elsewhere writes the one outcome). A reader of
 * the feeds and a reader of BullMQ's state never disagree, and no record has to bridge the two.
 *
 * How it reaches BullMQ: each Worker gets a queue backend (BullMQ's own Redis backend) whose
 * `moveToFinished` command is swapped for ours when the processor left an outcome for that job
 * in `PendingOutcomes`. Every other command, and a finish with no outcome left, is BullMQ's.
 * The wrapped script is built from the installed BullMQ's script source at start, so the two
 * cannot drift apart; a BullMQ whose script takes other keys is refused at start.
 */
import { createRedisBackend, type BackendFactory, type RedisQueueBackend } from 'bullmq';
import type { Redis } from 'ioredis';
import type { TaskEventRecord, TaskResultRecord } from '../src/feeds/feed-format.js';
import { outcomeArgv, outcomeKeys, outcomeWritesLua } from '../src/feeds/outcome-writes.js';
import type { Keys } from '../src/redis/keys.js';
import { bullmqFunction } from '../src/redis/bullmq-scripts.js';

/** BullMQ's moveToFinished: its keys, then ARGV[1..9]. */
const BULL_KEYS = 14;
const BULL_ARGS = 9;
const COMMAND = 'orqMoveToFinished';

/**
 * BullMQ's script as a function, then ours when it finished the job (it returns 0, or the next
 * job to run as a table; a negative number is an error and changes nothing of ours).
 * KEYS[15..18] and ARGV[10..]: the outcome's writes (src/feeds/outcome-writes.ts).
 */
function wrappedLua(): string {
  return `
${bullmqFunction('bullmqMoveToFinished', 'moveToFinished', BULL_KEYS)}
local r = bullmqMoveToFinished(KEYS, ARGV)
if r == 0 or type(r) == 'table' then
${outcomeWritesLua(BULL_KEYS + 1, BULL_ARGS + 1)}
end
return r
`;
}

/** Defines the wrapped command on the connection BullMQ's Workers are given. */
export function defineOutcomeCommand(bullRedis: Redis): void {
  if (typeof (bullRedis as unknown as Record<string, unknown>)[COMMAND] === 'function') return;
  bullRedis.defineCommand(COMMAND, { numberOfKeys: BULL_KEYS + 4, lua: wrappedLua() });
}

/** The outcomes processors left for BullMQ's next `moveToFinished` of each job. */
export class PendingOutcomes {
  private readonly byJob = new Map<string, (string | number)[]>();

  constructor(private readonly opts: { eventsMaxLen: number; resultsMaxLen: number }) {}

  /** The attempt of `event.taskId` ended for good with `result`: commit both with BullMQ's finish. */
  set(event: TaskEventRecord, result: TaskResultRecord): void {
    this.byJob.set(result.taskId, outcomeArgv(event, result, this.opts.eventsMaxLen, this.opts.resultsMaxLen));
  }

  /** Forget what an earlier attempt of `taskId` left (a new attempt starts). */
  clear(taskId: string): void {
    this.byJob.delete(taskId);
  }

  get size(): number {
    return this.byJob.size;
  }

  get(taskId: string): (string | number)[] | undefined {
    return this.byJob.get(taskId);
  }
}

/**
 * BullMQ's Redis backend, with `moveToFinished` committing the outcome the processor left.
 * The outcome is dropped once the script ran, whatever it answered (a lost lock is final for
 * this run); a call that failed (a dropped connection) keeps it, since BullMQ retries that finish
 * and the retry must carry it again.
 */
export function outcomeCommittingBackend(outcomes: PendingOutcomes, keys: Keys): BackendFactory<RedisQueueBackend> {
  const ourKeys = outcomeKeys(keys);
  return (name, queueOpts, flags) => {
    const backend = createRedisBackend(name, queueOpts, flags);
    if (backend.moveToFinishedKeys.length !== BULL_KEYS) {
      throw new Error(
        `this BullMQ's moveToFinished takes ${backend.moveToFinishedKeys.length} keys, not ${BULL_KEYS}: workers/outcome-commit.ts needs updating`,
      );
    }
    const bullExec = backend.execCommand.bind(backend);
    backend.execCommand = (client, command, args: unknown[]) => {
      const jobId = command === 'moveToFinished' ? String(args[BULL_KEYS]) : '';
      const ours = jobId ? outcomes.get(jobId) : undefined;
      if (!ours) return bullExec(client, command, args);
      const bullArgs = args.slice(BULL_KEYS, BULL_KEYS + BULL_ARGS);
      while (bullArgs.length < BULL_ARGS) bullArgs.push('');
      const all = [...args.slice(0, BULL_KEYS), ...ourKeys, ...bullArgs.map((a) => a ?? ''), ...ours];
      return (client.runCommand(COMMAND, all) as Promise<unknown>).then((r) => {
        if (outcomes.get(jobId) === ours) outcomes.clear(jobId);
        return r;
      });
    };
    return backend;
  };
}
