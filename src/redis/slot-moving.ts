/**
 * Calls that meet a Redis Cluster slot being moved (`redis-cli --cluster reshard`, README "Redis
 * Cluster": moving slots while tasks flow). While a slot is half moved, its keys are partly on the
 * source and partly on the target: a command whose keys are all on one side is redirected there
 * (ASK, or MOVED once the move is done), and a command or script whose keys are split between the
 * two, or not all created yet, gets TRYAGAIN until the last key has moved. In every one of these
 * replies Redis ran nothing, so the call can be sent again as it is.
 *
 * ioredis's Cluster follows these replies for a command sent on its own (createRedis gives it the
 * budget below), but not inside a pipeline whose other commands succeeded: an auto-pipelined
 * connection batches unrelated calls into one pipeline, and ioredis then hands the redirection or
 * TRYAGAIN to the caller as an error. `retryWhileSlotMoves` sends such a call again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isCluster, type RedisClient } from './redis-client.js';

/**
 * How long a call rides out a slot being moved before its error is given to the caller: a slot
 * of a few thousand keys moves in well under a second (README "Redis Cluster"); a larger one, or a
 * slow link, makes writes to it wait longer, and past this they fail (UNAVAILABLE on the gRPC
 * front end, never acknowledged).
 */
export const SLOT_MOVE_RIDE_OUT_MS = 5_000;

/** Between two tries of a call that met a moving slot: ioredis's own retryDelayOnTryAgain. */
export const SLOT_MOVE_RETRY_DELAY_MS = 100;

/**
 * ioredis's maxRedirections for a Cluster: each TRYAGAIN round of a lone command costs up to three
 * redirections (TRYAGAIN goes to a random master, which answers MOVED to the source, which
 * answers ASK to the target, which answers TRYAGAIN again) and one retry delay, so this is what
 * rides out SLOT_MOVE_RIDE_OUT_MS. ioredis's default of 16 gave up after about half a second.
 */
export const CLUSTER_MAX_REDIRECTIONS = 3 * Math.ceil(SLOT_MOVE_RIDE_OUT_MS / SLOT_MOVE_RETRY_DELAY_MS);

const MOVING = /^(TRYAGAIN|ASK|MOVED) /;

/**
 * What ioredis rejects an auto-pipeline with when it resends it after a redirection that every
 * write of it got (ioredis resends a pipeline whose writes all got the same MOVED or ASK) and the
 * slots cache, updated by that redirection, now puts its keys on different nodes: commands of
 * several slots of one node were batched, and one of the slots has moved. The resent pipeline is
 * not sent at all, and its writes had all been redirected: nothing ran.
 */
const SPLIT_PIPELINE = 'All keys in the pipeline should belong to the same slots allocation group';

/**
 * Whether `err` says that the call met a slot being moved and Redis ran nothing: TRYAGAIN, ASK or
 * MOVED as the reply, ioredis's "Too many Cluster redirections" after one of them, or its refusal
 * to resend a redirected auto-pipeline whose slots are now on different nodes (SPLIT_PIPELINE).
 */
export function isSlotMovingError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.message === SPLIT_PIPELINE) return true;
  const last = /^Too many Cluster redirections\. Last error: (?:ReplyError: )?(.*)$/s.exec(err.message);
  return MOVING.test(last ? last[1]! : err.message);
}

/**
 * `call()` on `redis`, sent again while it meets a slot being moved, for up to
 * SLOT_MOVE_RIDE_OUT_MS from the first try; any other error, or the last one, goes to the caller.
 * Only for calls that are all or nothing (a script, a MULTI, which Redis aborts whole when one of
 * its commands is redirected): a plain pipeline whose other commands ran must not be resent
 * whole. On a single Redis, `call()` once.
 */
export async function retryWhileSlotMoves<T>(redis: RedisClient, call: () => Promise<T>): Promise<T> {
  if (!isCluster(redis)) return call();
  const start = Date.now();
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!isSlotMovingError(err) || Date.now() - start >= SLOT_MOVE_RIDE_OUT_MS) throw err;
      // A MOVED given to the caller did not update ioredis's slot table (it does so only for
      // the redirections it follows), and an auto-pipeline picks its node from that table.
      if (/(^|: )MOVED /.test(err instanceof Error ? err.message : '')) redis.refreshSlotsCache();
      await sleep(SLOT_MOVE_RETRY_DELAY_MS);
    }
  }
}
