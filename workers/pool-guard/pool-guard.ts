/**
 * The pool's side of the pool guard (pool-guard-main.ts): starts the guard process and tells
 * it which process groups the pool's command tasks run in.
 *
 * Why a separate process: command tasks run in their own process groups (so that a task is
 * stopped with everything it spawned) and containers run on the engine, so nothing stops either
 * when the pool is killed outright. The pool cannot act after SIGKILL, and a pool starting later
 * would come too late for a task spinning a CPU meanwhile (and containers are left to their pool
 * for 30 s, lest a slow pool lose them). The guard learns of the pool's death at once, from the
 * end of its stdin pipe, without polling.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../src/logging/logger.js';
import { guardStateFile, type GuardArgs } from './guard-state.js';

/** A guard that lived less than this is not started again. */
const RESTART_AFTER_MS = 1_000;
const GUARD_FILE = join(dirname(fileURLToPath(import.meta.url)), 'pool-guard-main.js');

export interface PoolGuardOptions extends GuardArgs {
  logger: Logger;
}

/** What the command executor needs of a guard. */
export interface ProcessGroupWatch {
  track(pgid: number, taskId: string): void;
  untrack(pgid: number): void;
}

export class PoolGuard implements ProcessGroupWatch {
  private child?: ChildProcess;
  private readonly groups = new Map<number, string>();
  private closing = false;

  constructor(private readonly opts: PoolGuardOptions) {}

  /** The guard's pid. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    const { logger, ...args } = this.opts;
    const child = spawn(process.execPath, [GUARD_FILE, JSON.stringify(args)], {
      stdio: ['pipe', 'ignore', 'ignore'],
      // Its own session: signals to the pool's process group (a terminal's ^C, a kill of the
      // group) do not reach it, and it must outlive the pool to do its job.
      detached: true,
    });
    this.child = child;
    // A write after the guard died fails here; the exit handler starts a new one.
    child.stdin!.on('error', () => undefined);
    const startedAt = Date.now();
    child.once('exit', (code, signal) => {
      if (this.closing) return;
      // Its record would make a pool starting on this host reap groups that are still ours.
      if (child.pid) rmSync(guardStateFile(args.runDir, args.poolId, child.pid), { force: true });
      // One that cannot even start (a missing file, no memory) would fail again at once.
      if (Date.now() - startedAt < RESTART_AFTER_MS) {
        logger.error({ code, signal }, 'the pool guard cannot run: command tasks and containers of this pool would outlive a kill of it');
        return;
      }
      logger.warn({ code, signal, guardPid: child.pid }, 'the pool guard exited; starting another');
      this.start();
      for (const [pgid, taskId] of this.groups) this.send(`add ${pgid} ${taskId}`);
    });
  }

  track(pgid: number, taskId: string): void {
    this.groups.set(pgid, taskId);
    this.send(`add ${pgid} ${taskId}`);
  }

  untrack(pgid: number): void {
    this.groups.delete(pgid);
    this.send(`del ${pgid}`);
  }

  /** Ends the guard; it stops whatever is still listed or labelled (nothing after an orderly close). */
  async close(): Promise<void> {
    this.closing = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.stdin!.end();
    await exited;
  }

  private send(line: string): void {
    const stdin = this.child?.stdin;
    if (stdin && !stdin.destroyed) stdin.write(`${line}\n`);
  }
}
