/**
 * The start-up reap of command tasks whose pool and guard are both gone, against real process
 * groups: it kills what a dead guard recorded, and leaves alone what a live guard watches and a
 * later process that got a recorded pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logging/logger.js';
import { guardStateFile, type GuardState } from '../workers/pool-guard/guard-state.js';
import { reapOrphanGroups } from '../workers/pool-guard/orphan-group-reaper.js';
import { allProcesses, procStat } from '../workers/pool-guard/proc-stat.js';
import { waitFor } from './helpers/wait.js';

const logger = createLogger('silent', { process: 'test' });
const started: ChildProcess[] = [];

/** A process group like a command task's: a shell leader with a grandchild. */
function group(): { pgid: number; start: number } {
  const child = spawn('sh', ['-c', 'sleep 300 & wait'], { detached: true, stdio: 'ignore' });
  started.push(child);
  return { pgid: child.pid!, start: procStat(child.pid!)!.start };
}

const members = (pgid: number) => allProcesses().filter((p) => p.pgid === pgid);

function record(dir: string, guard: { pid: number; start: number }, groups: GuardState['groups']): string {
  const file = guardStateFile(dir, 'pool/1', guard.pid);
  writeFileSync(file, JSON.stringify({ poolId: 'pool/1', guard, groups } satisfies GuardState));
  return file;
}

afterEach(() => {
  for (const c of started.splice(0)) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

describe('reapOrphanGroups', () => {
  it('kills the groups a dead guard recorded and removes its record', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orq-reap-'));
    const g = group();
    await waitFor(() => members(g.pgid).length === 2, { message: 'the group never formed' });
    // A guard pid that no process has: the guard is gone.
    const file = record(dir, { pid: 2 ** 22 + 1, start: 1 }, [{ ...g, taskId: 't1' }]);
    expect(reapOrphanGroups({ runDir: dir, logger })).toBe(1);
    await waitFor(() => members(g.pgid).length === 0, { message: 'the group survived' });
    expect(existsSync(file)).toBe(false);
  });

  it('counts a guard that is a zombie (killed, not reaped yet) as gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orq-reap-'));
    const g = group();
    // The inner shell prints its pid and exits; its parent has exec'd sleep, which never reaps
    // it: a zombie, as a killed guard is until the init it was reparented to reaps it.
    const parent = spawn('sh', ['-c', 'sh -c "echo \\$\\$" & exec sleep 60'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    started.push(parent);
    const zombiePid = Number(await new Promise<string>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(d.toString()))));
    const zombie = await waitFor(() => (procStat(zombiePid)?.state === 'Z' ? procStat(zombiePid) : undefined), { message: 'no zombie' });
    record(dir, { pid: zombie!.pid, start: zombie!.start }, [{ ...g, taskId: 't1' }]);
    expect(reapOrphanGroups({ runDir: dir, logger })).toBe(1);
    await waitFor(() => members(g.pgid).length === 0, { message: 'the group survived' });
  });

  it('leaves the groups of a live guard alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orq-reap-'));
    const g = group();
    const file = record(dir, { pid: process.pid, start: procStat(process.pid)!.start }, [{ ...g, taskId: 't1' }]);
    expect(reapOrphanGroups({ runDir: dir, logger })).toBe(0);
    expect(members(g.pgid).length).toBeGreaterThan(0);
    expect(existsSync(file)).toBe(true);
  });

  it('leaves alone a group whose leader is a later process with the recorded pid', () => {
    const dir = mkdtempSync(join(tmpdir(), 'orq-reap-'));
    const g = group();
    // Recorded with another start time: the pid was reused since.
    record(dir, { pid: 2 ** 22 + 1, start: 1 }, [{ pgid: g.pgid, start: g.start - 1, taskId: 't1' }]);
    expect(reapOrphanGroups({ runDir: dir, logger })).toBe(0);
    expect(members(g.pgid).length).toBeGreaterThan(0);
  });

  it('finds nothing in a directory that does not exist yet', () => {
    expect(reapOrphanGroups({ runDir: join(tmpdir(), `orq-none-${process.pid}`, 'pools'), logger })).toBe(0);
  });
});
