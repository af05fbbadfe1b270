/**
 * Reaps the process groups of command tasks whose pool and command guard are both gone: the
 * guard (pool-guard-main.ts) stops a dead pool's groups itself, so a record is left behind
 * only when the guard was killed too (a SIGKILL of the whole session, the OOM killer). A pool
 * runs this at start-up, before it takes tasks, on the records in its pool.runDir.
 *
 * A group is killed only if it is still the one recorded: a live leader with another start
 * time is a later process that got the same pid, and is left alone.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../src/logging/logger.js';
import { allProcesses, exited, procStat } from './proc-stat.js';
import { GUARD_STATE_SUFFIX, type GuardState } from './guard-state.js';

export interface OrphanGroupReaperOptions {
  runDir: string;
  logger: Logger;
}

/** SIGKILLs the orphaned groups recorded in `runDir` and removes their records; returns how many groups. */
export function reapOrphanGroups(opts: OrphanGroupReaperOptions): number {
  let files: string[];
  try {
    files = readdirSync(opts.runDir).filter((f) => f.endsWith(GUARD_STATE_SUFFIX));
  } catch {
    return 0; // No directory yet: no guard ever recorded anything here.
  }
  let reaped = 0;
  let processes: ReturnType<typeof allProcesses> | undefined;
  for (const file of files) {
    const path = join(opts.runDir, file);
    let state: GuardState;
    try {
      state = JSON.parse(readFileSync(path, 'utf8')) as GuardState;
    } catch {
      continue; // Being rewritten right now (its guard is alive), or not ours.
    }
    const guard = procStat(state.guard?.pid ?? 0);
    // Its guard is watching, unless it is a zombie: killed, and not reaped yet by the init it
    // was reparented to.
    if (guard && guard.start === state.guard.start && !exited(guard)) continue;
    processes ??= allProcesses();
    for (const g of state.groups ?? []) {
      const leader = procStat(g.pgid);
      if (leader && g.start !== 0 && leader.start !== g.start) {
        opts.logger.warn(
          { pgid: g.pgid, poolId: state.poolId, recordedStart: g.start, start: leader.start },
          'a recorded command task group now belongs to a later process: left alone',
        );
        continue;
      }
      if (!processes.some((p) => p.pgid === g.pgid && !exited(p))) continue;
      opts.logger.warn({ pgid: g.pgid, poolId: state.poolId, taskId: g.taskId }, 'killing a command task its pool left behind');
      try {
        process.kill(-g.pgid, 'SIGKILL');
        reaped++;
      } catch (err) {
        opts.logger.warn({ err, pgid: g.pgid }, 'could not kill an orphaned command task');
      }
    }
    rmSync(path, { force: true });
  }
  return reaped;
}
