import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { StartRunCode } from '../codes.js';
import type { LuaArg } from '../lua-command.js';
import { storeScript } from '../store-script.js';
import { RUN_SCRIPT_KEYS, runScriptHead, type RunScriptOptions } from './run-script-args.js';
import type { StagedStep } from './staged-steps.js';

/** A run to create (its header and its steps). */
export interface NewRun {
  /** Of the workflow name, version and inputs: the same run id with another digest is a conflict. */
  digest: string;
  name: string;
  version: number;
  failurePolicy: string;
  inputsJson: string;
  steps: readonly { stepId: string; dependencies: number }[];
  /** Single Redis only: steps whose releases a pool's finish of them may add (staged-steps.ts). */
  staged?: readonly StagedStep[];
}

export type StartRunReply =
  { code: StartRunCode.Created; released: string[] } | { code: StartRunCode.Exists; state: string } | { code: StartRunCode.Conflict; name: string };

/** Per-step values go as one array, never spread (src/store/lua-command.ts): a run may have 100,000 steps. */
type Command = (
  head: LuaArg,
  digest: string,
  name: string,
  version: number,
  policy: string,
  inputs: string,
  n: number,
  steps: LuaArg,
  staged: LuaArg,
) => Promise<[number, ...string[]]>;

/** lua/workflows/start-run.lua: creates run `runId`, releasing its steps without dependencies. */
export function startRun(redis: RedisClient, keys: Keys, opts: RunScriptOptions): (runId: string, nowMs: number, run: NewRun) => Promise<StartRunReply> {
  const run = storeScript<Command>(redis, 'workflows/start-run', { numberOfKeys: RUN_SCRIPT_KEYS });
  return async (runId, nowMs, r) => {
    const steps: (string | number)[] = [];
    for (const s of r.steps) steps.push(s.stepId, s.dependencies);
    const staged: (string | Buffer)[] = [];
    for (const s of r.staged ?? []) staged.push(s.stepId, s.record);
    const head = runScriptHead(keys, opts, runId, nowMs);
    const [code, ...rest] = await run(head, r.digest, r.name, r.version, r.failurePolicy, r.inputsJson, r.steps.length, steps, staged);
    if (code === StartRunCode.Created) return { code, released: rest };
    if (code === StartRunCode.Exists) return { code, state: rest[0] ?? '' };
    return { code: StartRunCode.Conflict, name: rest[0] ?? '' };
  };
}
