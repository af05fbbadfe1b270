/**
 * Processes as /proc shows them, for suites that check nothing is left running: a process is
 * named by its pid and start time (a later process may reuse the pid), and a zombie runs nothing.
 */
import { readFileSync } from 'node:fs';
import { allProcesses, exited, procStat, type ProcStat } from '../../workers/pool-guard/proc-stat.js';

export type { ProcStat };

/** The one-letter state of `pid` (R, S, Z, T, ...), or '' when there is no such process. */
export function procState(pid: number): string {
  return procStat(pid)?.state ?? '';
}

/** Still the same process (pid and start time), and not a zombie. */
export function stillRunning(p: ProcStat): boolean {
  const now = procStat(p.pid);
  return now !== undefined && now.start === p.start && !exited(now);
}

/** Its command line, arguments separated by spaces (at most 200 characters). */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim().slice(0, 200);
  } catch {
    return '';
  }
}

/** The descendants of `rootPid` now (children, grandchildren, ...), the root left out. */
export function descendants(rootPid: number, all: ProcStat[] = allProcesses()): ProcStat[] {
  const out: ProcStat[] = [];
  const frontier = [rootPid];
  while (frontier.length > 0) {
    const parent = frontier.pop()!;
    for (const p of all)
      if (p.ppid === parent) {
        out.push(p);
        frontier.push(p.pid);
      }
  }
  return out;
}

/** `p` with its command line, for a failure message. */
export function describeProcess(p: ProcStat): string {
  return `${p.pid} (ppid ${procStat(p.pid)?.ppid ?? '?'}, state ${procState(p.pid) || 'gone'}): ${cmdline(p.pid)}`;
}

export { allProcesses, procStat };
