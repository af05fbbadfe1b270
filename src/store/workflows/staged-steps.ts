/**
 * A run's staged releases (keys.runStaged, single Redis only): for a step all of whose direct
 * dependents depend on it alone and have tasks that need nothing of any step's result, those
 * dependents and their tasks, rendered and validated when the run starts. The pool that finishes
 * the step's task with a success adds them in its finish script (lua/includes/staged-step.lua),
 * with step-done's logic, so that a chain's next step needs no hop through the engine.
 *
 * The record, msgpack (read in Lua by cmsgpack), field step_id of the staged hash:
 *   [dependents, keys, values, retention ms]
 * keys and values: tasks/submit-tasks's KEYS (from its schedules last on) and ARGV (from its
 * events MAXLEN on) for the dependents' tasks, every value a string, the KEYS indexes in the
 * values counting from STAGED_KEYS_BEFORE + 1 as in workflows/step-done.lua's KEYS (the run's
 * nine keys and the inbox come first there).
 */
import { Packr } from 'msgpackr';
import type { Keys } from '../keys.js';
import { submitCall, type SubmitEntry } from '../tasks/submit-tasks.js';
import { RUN_SCRIPT_KEYS, type RunScriptOptions } from './run-script-args.js';

/** KEYS before the submit keys in step-done.lua: the run's nine, then the inbox (its STAGED_KEYS_BEFORE). */
export const STAGED_KEYS_BEFORE = RUN_SCRIPT_KEYS + 1;

/** A step's staged releases, as start-run.lua stores them. */
export interface StagedStep {
  stepId: string;
  record: Buffer;
}

const packer = new Packr({ useRecords: false });

/**
 * The staged record of step `stepId`: its direct dependents and their tasks' submit entries
 * (none delayed: a delayed job's packed arguments carry its creation time, which the pool's
 * finish sets to the release's).
 */
export function stagedStep(keys: Keys, opts: RunScriptOptions, stepId: string, dependents: readonly string[], entries: readonly SubmitEntry[]): StagedStep {
  if (keys.cluster) throw new Error('nothing is staged on a Redis Cluster');
  if (entries.some((e) => e.delayMs > 0)) throw new Error('a delayed task is never staged');
  const { keyList, argv } = submitCall(keys, opts.eventsMaxLen, entries, STAGED_KEYS_BEFORE);
  return { stepId, record: packer.pack([dependents, keyList, argv.map(String), String(opts.runRetentionMs)]) as Buffer };
}
