/**
 * The bench's child processes (our pool, the baseline Worker) and what /proc says about them:
 * peak RSS (VmHWM) and CPU time, for a process together with its descendants (sandbox children).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const live = new Set<ChildProcess>();

export interface ForkOptions {
  /** Extra node flags, e.g. --cpu-prof. */
  execArgv?: string[];
  /** How long the child may take to say it is ready. @default 30000 */
  readyTimeoutMs?: number;
  /** Gets the child's ready message (what else it says there: a port). */
  onReady?: (message: Record<string, unknown>) => void;
}

/** Forks a bench child and resolves once it sends {ready: true}. */
export async function forkReady(file: string, args: string[], opts: ForkOptions = {}): Promise<ChildProcess> {
  const child = fork(file, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: opts.execArgv ?? [] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  try {
    const ready = await waitMessage(child, (m) => (m as { ready?: boolean }).ready === true, opts.readyTimeoutMs ?? 30_000, `${file} to start`);
    opts.onReady?.(ready as Record<string, unknown>);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}

/** Resolves with the first message from `child` that satisfies `match`. */
export function waitMessage(child: ChildProcess, match: (msg: unknown) => boolean, timeoutMs: number, what: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    const onMessage = (msg: unknown) => {
      if (match(msg)) done(undefined, msg);
    };
    const onExit = (code: number | null, sig: string | null) => done(new Error(`child exited (code ${code}, signal ${sig}) while waiting for ${what}`));
    const done = (err?: Error, msg?: unknown) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(msg);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Kills every child still running (error paths, interrupts). */
export function killAllChildren(): void {
  for (const c of live) c.kill('SIGKILL');
}

/** The pid and all its descendants that are alive now. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue; // it exited
    }
    for (const tid of tasks) {
      try {
        for (const c of readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) if (c) out.push(Number(c));
      } catch {
        // the thread ended between the listing and the read
      }
    }
  }
  return out;
}

/** Peak resident set size of one process, in MiB (0 when it is gone). */
export function peakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system) a process has used so far, in ms. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100 per second).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** CPU time of a process and its live descendants, in ms. */
export function treeCpuMs(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + cpuMs(p), 0);
}
