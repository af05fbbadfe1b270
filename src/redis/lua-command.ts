/**
 * Our Lua scripts as plain functions over a connection. The first call sends the script (EVAL,
 * which also loads it), later ones its SHA1 (EVALSHA): commands on one connection run in the
 * order sent, so calls queued right behind the first already find it loaded. A Redis that
 * forgot it (restarted, SCRIPT FLUSH) answers NOSCRIPT, and that call is sent again as EVAL.
 *
 * Why not ioredis's defineCommand: ioredis copies every defined command into each pipeline it
 * creates, and an auto-pipelined connection creates one per tick. With our twenty scripts on the
 * orchestrator's connection that was about 4 KB of garbage per tick, more than a lone command
 * costs. (BullMQ's Workers call their commands by name, so workers/task-backend.ts still defines
 * its two on BullMQ's connection.)
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

type Arg = string | number | Buffer;

/**
 * A function running `lua` on `redis`. With `numberOfKeys` the first that many arguments are the
 * keys; without, the caller passes the key count first. `F` is the call's type at its site.
 */
export function luaCommand<F extends (...args: never[]) => Promise<unknown>>(redis: Redis, lua: string, numberOfKeys?: number): F {
  const sha = createHash('sha1').update(lua).digest('hex');
  let sent = false;
  const run = async (...args: Arg[]): Promise<unknown> => {
    const keysAndArgs = numberOfKeys === undefined ? args : [numberOfKeys, ...args];
    if (!sent) {
      sent = true;
      return redis.call('EVAL', lua, ...keysAndArgs);
    }
    try {
      return await redis.call('EVALSHA', sha, ...keysAndArgs);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.call('EVAL', lua, ...keysAndArgs);
    }
  };
  return run as unknown as F;
}
