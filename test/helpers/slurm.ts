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
 * Whether Slurm's partition `gpu` has nodes with GPUs as a generic resource (.ci/run's
 * slurm.conf has two, counted only); throws under CI=true when it has none.
 */
export function slurmGpusForTests(suite: string): boolean {
  let why = '';
  try {
    const gres = execFileSync('sinfo', ['--noheader', '--partition=gpu', '--format=%G'], { encoding: 'utf8', timeout: 10_000 });
    if (!/\bgpu:/.test(gres)) why = `partition gpu has no GPU generic resource (sinfo: ${gres.trim() || 'no such partition'})`;
  } catch (err) {
    why = `sinfo failed: ${(err as Error).message}`;
  }
  if (!why) return true;
  if (process.env.CI === 'true') throw new Error(`${suite}: ${why}; CI's slurm.conf must have them (.ci/run writes GresTypes=gpu and a gpu partition)`);
  process.stderr.write(`SKIPPED the GPU tests of ${suite}: ${why} (see the slurm.conf in .ci/run)\n`);
  return false;
}

/**
 * A Slurm suite's config: its own key prefix (so job names, which carry it, match no other
 * run's), a spool dir of its own, a short poll interval, and a gpu_slurm class with the short
 * lock and stall timings of the other test classes.
 */
export function slurmSuiteToml(name: string, opts: { maxStalledCount?: number } = {}): { toml: string; spoolDir: string } {
  const spoolDir = mkdtempSync(join(tmpdir(), `orq-${name}-`));
  // TEST_CONFIG_TOML ends in [classes.gpu_slurm]: these first lines are keys of that table.
  const toml = `${TEST_CONFIG_TOML}
attempts = 1
lockDurationMs = 2000
stalledIntervalMs = 1000
maxStalledCount = ${opts.maxStalledCount ?? 2}
[redis]
prefix = "${name}${process.pid}"
[executors.slurm]
spoolDir = "${spoolDir}"
pollIntervalMs = 200
`;
  return { toml, spoolDir };
}

/** The Slurm job id stored for a task's attempt, once there is one. */
export async function storedJobId(sys: BareSystem, taskId: string, attempt = 1): Promise<string | undefined> {
  return (await sys.r.get(sys.keys.slurmJob(taskId, attempt))) ?? undefined;
}

/**
 * The job as `scontrol -d show job` shows it, field by field (the first of a repeated name),
 * e.g. `Partition`, `NumCPUs`, `MinMemoryNode`, `TimeLimit`, `TresPerNode`, `JOB_GRES`.
 */
export function scontrolJobFields(jobId: string): Record<string, string> {
  const text = execFileSync('scontrol', ['--details', '--oneliner', 'show', 'job', jobId], { encoding: 'utf8', timeout: 10_000 });
  const fields: Record<string, string> = {};
  for (const word of text.trim().split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq > 0 && !(word.slice(0, eq) in fields)) fields[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return fields;
}

/** The job's state per squeue (pending and running jobs only); '' once it is gone from the queue. */
export function squeueState(jobId: string): string {
  return execFileSync('squeue', ['--noheader', `--jobs=${jobId}`, '--format=%T'], { encoding: 'utf8', timeout: 10_000 }).trim();
}
