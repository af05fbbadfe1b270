import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import type { RetakeCode } from '../codes.js';
import type { LuaArg } from '../lua-command.js';
import { storeScript } from '../store-script.js';
import { RUN_SCRIPT_KEYS, runScriptHead, type RunScriptOptions } from './run-script-args.js';

type Command = (head: LuaArg, stepId: string, cutoffMs: number) => Promise<RetakeCode>;

/**
 * lua/workflows/retake-step.lua: takes over step `stepId` of run `runId`, left releasing since
 * `cutoffMs` or earlier by a caller that did not finish; Taken for exactly one of several callers.
 */
export function retakeStep(
  redis: RedisClient,
  keys: Keys,
  opts: RunScriptOptions,
): (runId: string, nowMs: number, stepId: string, cutoffMs: number) => Promise<RetakeCode> {
  const run = storeScript<Command>(redis, 'workflows/retake-step', { numberOfKeys: RUN_SCRIPT_KEYS });
  return (runId, nowMs, stepId, cutoffMs) => run(runScriptHead(keys, opts, runId, nowMs), stepId, cutoffMs);
}
