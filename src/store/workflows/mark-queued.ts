import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import type { LuaArg } from '../lua-command.js';
import { storeScript } from '../store-script.js';
import { RUN_SCRIPT_KEYS, runScriptHead, type RunScriptOptions } from './run-script-args.js';

type Command = (head: LuaArg, stepIds: LuaArg) => Promise<string[]>;

/**
 * lua/workflows/mark-queued.lua: released steps of run `runId` whose tasks are in their queues
 * become queued. Returns the steps that ended meanwhile, whose new tasks must be cancelled.
 */
export function markQueued(
  redis: RedisClient,
  keys: Keys,
  opts: RunScriptOptions,
): (runId: string, nowMs: number, stepIds: readonly string[]) => Promise<string[]> {
  const run = storeScript<Command>(redis, 'workflows/mark-queued', { numberOfKeys: RUN_SCRIPT_KEYS });
  return (runId, nowMs, stepIds) => run(runScriptHead(keys, opts, runId, nowMs), stepIds);
}
