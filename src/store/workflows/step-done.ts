import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { StepDoneCode } from '../codes.js';
import type { LuaArg } from '../lua-command.js';
import { storeScript } from '../store-script.js';
import { RUN_SCRIPT_KEYS, runScriptHead, type RunScriptOptions } from './run-script-args.js';
import { submitCall, type SubmitEntry } from '../tasks/submit-tasks.js';

/** KEYS before the submit keys of the tasks given (step-done.lua): the run's eight, then the inbox. */
const KEYS_BEFORE_TASKS = RUN_SCRIPT_KEYS + 1;

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
  /**
   * The inbox entry the outcome came from, acknowledged (and deleted) by the script when nothing
   * is left to cancel. Single Redis only: on a cluster the inbox has a slot of its own.
   */
  inbox?: { key: string; group: string; entry: string };
  /**
   * Tasks of direct dependents this outcome may release, added by the script when it releases
   * them (their steps become queued at once). Single Redis only.
   */
  tasks?: readonly SubmitEntry[];
}

export type StepDoneReply =
  /** Nothing recorded (no such run or step, or already final); a stopped run's queued steps to cancel again. */
  | { code: StepDoneCode.NotRecorded; cancel: string[]; acked: boolean }
  | {
      code: StepDoneCode.Recorded;
      /** Released for the caller to submit (releasing). */
      released: string[];
      cancel: string[];
      runEnded: boolean;
      releasing: string[];
      /** Released with their tasks added by the script (queued). */
      queued: string[];
      /** Whether the script acknowledged the inbox entry. */
      acked: boolean;
    };

type Command = (
  numKeys: number,
  keys: LuaArg,
  argv: LuaArg,
  stepId: string,
  state: string,
  attempt: number,
  outcome: string,
  error: string,
  n: number,
  m: number,
  entry: string,
  group: string,
  dependents: LuaArg,
  downstream: LuaArg,
  tasks: LuaArg,
) => Promise<[StepDoneCode.NotRecorded, string[], number] | [StepDoneCode.Recorded, string[], string[], number, string[], string[], number]>;

/** lua/workflows/step-done.lua: records a step's final outcome in run `runId` and what follows. */
export function stepDone(redis: RedisClient, keys: Keys, opts: RunScriptOptions): (runId: string, nowMs: number, step: StepDone) => Promise<StepDoneReply> {
  const run = storeScript<Command>(redis, 'workflows/step-done');
  return async (runId, nowMs, s) => {
    if (keys.cluster && (s.inbox || s.tasks?.length)) throw new Error('step-done takes no inbox entry or tasks on a Redis Cluster');
    const head = runScriptHead(keys, opts, runId, nowMs);
    const runKeys = head.slice(0, RUN_SCRIPT_KEYS) as string[];
    let keyList = runKeys;
    let tasks: (string | number | Buffer)[] = [];
    if (!keys.cluster) {
      keyList = [...runKeys, s.inbox?.key ?? keys.workflowInbox];
      if (s.tasks?.length) {
        const call = submitCall(keys, opts.eventsMaxLen, s.tasks, KEYS_BEFORE_TASKS);
        keyList.push(...call.keyList);
        tasks = call.argv;
      }
    }
    const reply = await run(
      keyList.length,
      keyList,
      head.slice(RUN_SCRIPT_KEYS),
      s.stepId,
      s.state,
      s.attempt,
      s.outcomeJson,
      s.error,
      s.dependents.length,
      s.downstream.length,
      s.inbox?.entry ?? '',
      s.inbox?.group ?? '',
      s.dependents,
      s.downstream,
      tasks,
    );
    if (reply[0] === StepDoneCode.NotRecorded) return { code: reply[0], cancel: reply[1], acked: reply[2] === 1 };
    return {
      code: reply[0],
      released: reply[1],
      cancel: reply[2],
      runEnded: reply[3] === 1,
      releasing: reply[4],
      queued: reply[5],
      acked: reply[6] === 1,
    };
  };
}
