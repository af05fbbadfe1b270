/**
 * Our Lua scripts as plain functions over a connection. The first call sends the script (EVAL,
 * which also loads it), later ones its SHA1 (EVALSHA): commands on one connection run in the
 * order sent, so calls queued right behind the first already find it loaded. A Redis that
 * forgot it (restarted, SCRIPT FLUSH) answers NOSCRIPT, and that call is sent again as EVAL.
 *
 * Why not ioredis's defineCommand: ioredis copies every defined command into each pipeline it
 * creates, and an auto-pipelined connection creates one per tick. With our twenty scripts on the
 * orchestrator's connection that was about 4 KB of garbage per tick, more than a lone command
 * costs. (BullMQ's Workers call their commands by name, so src/store/bullmq/task-backend.ts still defines
 * its five on BullMQ's connection.)
 *
 * Arguments of per-task (or per-id) length are passed as arrays, never spread: a spread puts
 * every element on the call stack, and a batch of a few thousand tasks (12 values each) overflowed
 * it ("Maximum call stack size exceeded", inside ioredis's auto-pipeline flush, where it took the
 * whole process down). The function flattens one level of arrays into the command with a loop.
 *
 * On a Redis Cluster a call that meets its slot being moved is sent again (src/redis/slot-moving.ts).
 */
import { createHash } from 'node:crypto';
import { Command } from 'ioredis';
import { isCluster, type RedisClient } from '../redis/redis-client.js';
import { retryWhileSlotMoves } from '../redis/slot-moving.js';

type Value = string | number | Buffer;
/** One argument, or an array of them (sent as consecutive arguments). */
export type LuaArg = Value | readonly Value[];

/** `args` as one flat command argument list, after `head`, without spreading anything. */
function flatten(head: Value[], args: readonly LuaArg[]): Value[] {
  const out = head;
  for (const a of args) {
    if (Array.isArray(a)) for (const v of a as readonly Value[]) out.push(v);
    else out.push(a as Value);
  }
  return out;
}

export interface LuaCommandOptions {
  /** How many of the arguments are keys; without, the caller passes the key count first. */
  numberOfKeys?: number;
  /**
   * Write each call to the connection at once, outside its auto-pipeline (which sends what a tick
   * collected on the next turn of the event loop, and only when the pipeline before it has been
   * answered). For a caller that already batches its calls: Redis runs one while the process
   * collects the next, instead of the two taking turns. @default false
   */
  atOnce?: boolean;
}

/** A function running `lua` on `redis`. `F` is the call's type at its site. */
export function luaCommand<F extends (...args: never[]) => Promise<unknown>>(redis: RedisClient, lua: string, opts: LuaCommandOptions = {}): F {
  const { numberOfKeys, atOnce = false } = opts;
  const sha = createHash('sha1').update(lua).digest('hex');
  const send = atOnce
    ? (name: string, args: Value[]) => redis.sendCommand(new Command(name, args, { replyEncoding: 'utf8' })) as Promise<unknown>
    : (name: string, args: Value[]) => redis.call(name, args);
  let sent = false;
  const run = async (...args: LuaArg[]): Promise<unknown> => {
    const rest = (first: Value) => flatten(numberOfKeys === undefined ? [first] : [first, numberOfKeys], args);
    if (!sent) {
      sent = true;
      return send('EVAL', rest(lua));
    }
    try {
      return await send('EVALSHA', rest(sha));
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return send('EVAL', rest(lua));
    }
  };
  // On a Redis Cluster a script can meet its slot being moved; inside an auto-pipeline ioredis
  // hands that to the caller rather than following it (src/redis/slot-moving.ts). Redis ran
  // nothing then, so the call is sent again.
  if (isCluster(redis)) return ((...args: LuaArg[]) => retryWhileSlotMoves(redis, () => run(...args))) as unknown as F;
  return run as unknown as F;
}
