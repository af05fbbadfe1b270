/**
 * What a pool tells its guard at start (GuardArgs), and the file a guard keeps of the process
 * groups it watches so that a pool starting on the same host can reap them when the guard
 * itself was killed too.
 *
 * File contract: one per guard, `<runDir>/<poolId>.<guardPid>.json` (pool id with characters
 * other than [A-Za-z0-9_.-] as "_"), rewritten whole (a temporary name, then rename) on every
 * change and removed when the guard lists no group:
 *   { "poolId": string, "guard": { "pid": number, "start": number },
 *     "groups": [{ "pgid": number, "start": number, "taskId": string }] }
 * `start` is the /proc start time of the guard and of each group's leader (0 when unknown). A
 * file whose guard is no longer running (that pid with that start time) is an orphan's record.
 */
import { join } from 'node:path';

export interface GuardArgs {
  /** Absolute pool.runDir. */
  runDir: string;
  poolId: string;
  /** SIGTERM to SIGKILL for the groups of a dead pool. */
  killGraceMs: number;
  /** Set when the pool may run containers: the engine's socket and the deployment's key prefix. */
  docker?: { socketPath: string; prefix: string };
}

export interface GuardedGroup {
  pgid: number;
  /** /proc start time of the group leader, 0 when it was already gone. */
  start: number;
  taskId: string;
}

export interface GuardState {
  poolId: string;
  guard: { pid: number; start: number };
  groups: GuardedGroup[];
}

export const GUARD_STATE_SUFFIX = '.json';

export function guardStateFile(runDir: string, poolId: string, guardPid: number): string {
  return join(runDir, `${poolId.replace(/[^A-Za-z0-9_.-]/g, '_')}.${guardPid}${GUARD_STATE_SUFFIX}`);
}
