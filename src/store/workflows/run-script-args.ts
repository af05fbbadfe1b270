/**
 * What every workflow run script takes first, in its order (lua/includes/run-args.lua): the
 * run's nine keys, then now, the events stream's MAXLEN, the run id and how long a finished
 * run is kept. The scripts: start-run, step-done, mark-queued, cancel-run, retake-step.
 */
import type { Keys } from '../keys.js';

/**
 * KEYS of every run script: run, steps, deps, outcomes, events, active runs, releasing, run index,
 * staged (the run's staged releases: keys.runStaged).
 * The events stream is the workflow events stream (keys.workflowEvents: on a cluster the one with
 * the run's keys, not a class's): run scripts write only workflow_run and workflow_step events.
 */
export const RUN_SCRIPT_KEYS = 9;

export interface RunScriptOptions {
  /** MAXLEN ~ of the events stream, where the run and step events go. */
  eventsMaxLen: number;
  /** How long a finished run's keys are kept. */
  runRetentionMs: number;
}

/** KEYS[1..9] of a run script: the run's keys, in lua/includes/run-args.lua's order. */
export function runScriptKeys(keys: Keys, runId: string): string[] {
  return [
    keys.run(runId),
    keys.runSteps(runId),
    keys.runDeps(runId),
    keys.runOutcomes(runId),
    keys.workflowEvents,
    keys.activeRuns,
    keys.releasing,
    keys.runIndex,
    keys.runStaged(runId),
  ];
}

/** KEYS[1..9] and ARGV[1..4] of a run script. */
export function runScriptHead(keys: Keys, opts: RunScriptOptions, runId: string, nowMs: number): (string | number)[] {
  return [...runScriptKeys(keys, runId), nowMs, opts.eventsMaxLen, runId, opts.runRetentionMs];
}
