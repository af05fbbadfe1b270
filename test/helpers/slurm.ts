/**
 * The single-node Slurm for the Slurm suites: whether it answers, a suite config, and reading a
 * task's job back from Redis and Slurm.
 *
 * Without Slurm a suite skips with a message on a laptop, but fails under CI=true: CI starts
 * one (.ci/run), so a Slurm that does not answer there is a broken run, not a reason to skip.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlurmCli } from '../../src/slurm/slurm-cli.js';
import { TEST_CONFIG_TOML, type BareSystem } from './system.js';

export const slurm = new SlurmCli({ commandTimeoutMs: 10_000 });

/** Whether Slurm answers and has an idle or usable node; throws under CI=true when it does not. */
export async function slurmForTests(suite: string): Promise<boolean> {
  let why = '';
  if (!(await slurm.ping())) why = 'slurmctld does not answer (scontrol ping)';
  else {
    try {
      const states = execFileSync('sinfo', ['--noheader', '--format=%t'], { encoding: 'utf8', timeout: 10_000 });
      if (!/idle|mix|alloc/.test(states)) why = `no usable node (sinfo: ${states.trim() || 'none'})`;
    } catch (err) {
      why = `sinfo failed: ${(err as Error).message}`;
    }
  }
  if (!why) return true;
  if (process.env.CI === 'true') throw new Error(`${suite}: ${why}; CI must start Slurm (.ci/run starts munged, slurmctld and slurmd)`);
  process.stderr.write(`SKIPPED ${suite}: ${why} (start a single-node Slurm to run it; see SERVICES.md)\n`);
  return false;
}

/**
 * A Slurm suite's config: its own key prefix (so job names, which carry it, match no other
 * run's), a spool dir of its own, a short poll interval, and a gpu_slurm class with the short
 * lock and stall timings of the other test classes.
 */
export function slurmSuiteToml(name: string, opts: { maxStalledCount?: number } = {}): { toml: string; spoolDir: string } {
  const spoolDir = mkdtempSync(join(tmpdir(), `orq-${name}-`));
  const toml = `${TEST_CONFIG_TOML}
[redis]
prefix = "${name}${process.pid}"
[executors.slurm]
spoolDir = "${spoolDir}"
pollIntervalMs = 200
[classes.gpu_slurm]
attempts = 1
lockDurationMs = 2000
stalledIntervalMs = 1000
maxStalledCount = ${opts.maxStalledCount ?? 2}
`;
  return { toml, spoolDir };
}

/** The Slurm job id stored for a task's attempt, once there is one. */
export async function storedJobId(sys: BareSystem, taskId: string, attempt = 1): Promise<string | undefined> {
  return (await sys.r.get(sys.keys.slurmJob(taskId, attempt))) ?? undefined;
}

/** The job's state per squeue (pending and running jobs only); '' once it is gone from the queue. */
export function squeueState(jobId: string): string {
  return execFileSync('squeue', ['--noheader', `--jobs=${jobId}`, '--format=%T'], { encoding: 'utf8', timeout: 10_000 }).trim();
}
