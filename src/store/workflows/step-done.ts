import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { StepDoneCode } from '../codes.js';
import type { LuaArg } from '../lua-command.js';
import { storeScript } from '../store-script.js';
import { RUN_SCRIPT_KEYS, runScriptHead, type RunScriptOptions } from './run-script-args.js';

/** A step's final outcome, and the steps it leads to. */
export interface StepDone {
  stepId: string;
  /** succeeded | failed | cancelled */
  state: string;
  attempt: number;
  /** JSON of the outcome as stored in the run's outcomes hash. */
  outcomeJson: string;
  /** The event's detail ("" for none). */
  error: string;
  /** Steps depending on this one directly. */
  dependents: readonly string[];
  /** Every step downstream of it (skipped after a failure under the "continue" policy). */
  downstream: readonly string[];
}

export type StepDoneReply =
  /** Nothing recorded (no such run or step, or already final); a stopped run's queued steps to cancel again. */
  | { code: StepDoneCode.NotRecorded; cancel: string[] }
  | { code: StepDoneCode.Recorded; released: string[]; cancel: string[]; runEnded: boolean; releasing: string[] };

type Command = (
  head: LuaArg,
  stepId: string,
  state: string,
  attempt: number,
  outcome: string,
  error: string,
  n: number,
  dependents: LuaArg,
  downstream: LuaArg,
) => Promise<[StepDoneCode.NotRecorded, string[]] | [StepDoneCode.Recorded, string[], string[], number, string[]?]>;

/** lua/workflows/step-done.lua: records a step's final outcome in run `runId` and what follows. */
export function stepDone(redis: RedisClient, keys: Keys, opts: RunScriptOptions): (runId: string, nowMs: number, step: StepDone) => Promise<StepDoneReply> {
  const run = storeScript<Command>(redis, 'workflows/step-done', RUN_SCRIPT_KEYS);
  return async (runId, nowMs, s) => {
    const reply = await run(
      runScriptHead(keys, opts, runId, nowMs),
      s.stepId,
      s.state,
      s.attempt,
      s.outcomeJson,
      s.error,
      s.dependents.length,
      s.dependents,
      s.downstream,
    );
    if (reply[0] === StepDoneCode.NotRecorded) return { code: reply[0], cancel: reply[1] };
    return { code: reply[0], released: reply[1], cancel: reply[2], runEnded: reply[3] === 1, releasing: reply[4] ?? [] };
  };
}
