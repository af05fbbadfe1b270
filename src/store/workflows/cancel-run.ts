import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { CancelRunCode } from '../codes.js';
import type { LuaArg } from '../lua-command.js';
import { storeScript } from '../store-script.js';
import { RUN_SCRIPT_KEYS, runScriptHead, type RunScriptOptions } from './run-script-args.js';

export type CancelRunReply =
  | { code: CancelRunCode.Missing }
  /**
   * `state`: the run's state after the call (running while its tasks stop). `releasing`: those of
   * `cancel` that were being released, whose tasks may not be added yet (none on a repeat).
   */
  | { code: CancelRunCode.Found; state: string; cancel: string[]; releasing: string[] };

type Command = (head: LuaArg, reason: string) => Promise<[CancelRunCode.Missing] | [CancelRunCode.Found, string, string[], string[]?]>;

/** lua/workflows/cancel-run.lua: cancels run `runId`; hands back the steps whose tasks to cancel. */
export function cancelRun(redis: RedisClient, keys: Keys, opts: RunScriptOptions): (runId: string, nowMs: number, reason: string) => Promise<CancelRunReply> {
  const run = storeScript<Command>(redis, 'workflows/cancel-run', { numberOfKeys: RUN_SCRIPT_KEYS });
  return async (runId, nowMs, reason) => {
    const reply = await run(runScriptHead(keys, opts, runId, nowMs), reason);
    if (reply[0] === CancelRunCode.Missing) return { code: reply[0] };
    return { code: reply[0], state: reply[1], cancel: reply[2], releasing: reply[3] ?? [] };
  };
}
