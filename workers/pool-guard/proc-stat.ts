/**
 * What /proc says of a process: its group and its start time (clock ticks since boot). The start
 * time tells a process from a later one that got the same pid, which a pid alone cannot.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  ppid: number;
  pgid: number;
  /** Start time in clock ticks since boot: (pid, start) names one process for the host's uptime. */
  start: number;
  /** R, S, D, T, Z (zombie: exited, not yet reaped by its parent), X ... */
  state: string;
}

/**
 * Whether the process has exited. A zombie still has its /proc entry, pid and start time until
 * its parent reaps it; a killed process reparented to an init that reaps late (a container's
 * PID 1, some sandboxes) stays one for a long time.
 */
export function exited(p: ProcStat): boolean {
  return p.state === 'Z' || p.state === 'X';
}

/** The stat of `pid`, or undefined when there is no such process (or no /proc). */
export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, pgrp 5, starttime 22.
  return { pid, state: fields[0]!, ppid: Number(fields[1]), pgid: Number(fields[2]), start: Number(fields[19]) };
}

/** Every process /proc lists now (those that end while it is read are left out). */
export function allProcesses(): ProcStat[] {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: ProcStat[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const s = procStat(Number(name));
    if (s) out.push(s);
  }
  return out;
}
