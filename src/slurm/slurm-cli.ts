/**
 * Slurm, as the rest of the system uses it: its command-line tools (sbatch, scontrol, squeue,
 * scancel), which every Slurm installation has and which need no REST daemon or accounting
 * database. Infrastructure only: it knows nothing of tasks.
 *
 * Why the CLIs and `scontrol show job` rather than `sacct`: accounting is optional in Slurm
 * (and off on a small cluster), while slurmctld keeps an ended job, with its state and exit
 * code, for MinJobAge (300 s by default): long enough for a tracker polling every few seconds.
 */
import { execFile } from 'node:child_process';

export interface SlurmCliOptions {
  /** @default "sbatch" */
  sbatchPath?: string;
  /** @default "scontrol" */
  scontrolPath?: string;
  /** @default "squeue" */
  squeuePath?: string;
  /** @default "scancel" */
  scancelPath?: string;
  /** Longest one command may take (slurmctld can be slow to answer under load). @default 30000 */
  commandTimeoutMs?: number;
}

/** What sbatch needs besides the script. */
export interface SlurmSubmission {
  /** The batch script's path; Slurm copies it at submission. */
  scriptPath: string;
  jobName: string;
  /** The job's stdout and stderr, with Slurm's %j for the job id. */
  outputPath: string;
  workDir: string;
  partition?: string;
  /** Slurm account (--account). */
  account?: string;
  gres?: string;
  cpus?: number;
  memoryMb?: number;
  timeLimitMinutes?: number;
  /** Variables set in sbatch's environment, from which the job takes those in `exportNames`. */
  env: Record<string, string>;
  /** The variables the job gets (plus Slurm's own SLURM_*): `--export=NAME,...`. */
  exportNames: string[];
}

/** A job as scontrol shows it. */
export interface SlurmJobInfo {
  jobId: string;
  /** PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ... */
  state: string;
  /** The batch script's exit code (the part before ":" of ExitCode). */
  exitCode: number;
  /** The signal that ended it, 0 if none (the part after ":"). */
  signal: number;
  reason: string;
  stdoutPath: string;
}

/** States after which a job does nothing more (Slurm's JOB_END states). */
export const SLURM_FINAL_STATES: ReadonlySet<string> = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'NODE_FAIL',
  'OUT_OF_MEMORY',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
]);

/** A Slurm command that failed: its name, exit status and stderr. */
export class SlurmCommandError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
    cause: unknown,
  ) {
    super(`${command}: ${stderr.trim() || (cause instanceof Error ? cause.message : String(cause))}`, { cause });
    this.name = 'SlurmCommandError';
  }
}

export class SlurmCli {
  private readonly timeoutMs: number;

  constructor(readonly opts: SlurmCliOptions = {}) {
    this.timeoutMs = opts.commandTimeoutMs ?? 30_000;
  }

  /** Submits a batch job; resolves with its id. */
  async submit(s: SlurmSubmission): Promise<string> {
    const args = ['--parsable', `--job-name=${s.jobName}`, `--output=${s.outputPath}`, `--chdir=${s.workDir}`, `--export=${s.exportNames.join(',')}`];
    if (s.partition) args.push(`--partition=${s.partition}`);
    if (s.account) args.push(`--account=${s.account}`);
    if (s.gres) args.push(`--gres=${s.gres}`);
    if (s.cpus) args.push(`--cpus-per-task=${s.cpus}`);
    if (s.memoryMb) args.push(`--mem=${s.memoryMb}`);
    if (s.timeLimitMinutes) args.push(`--time=${s.timeLimitMinutes}`);
    args.push(s.scriptPath);
    const out = await this.exec(this.opts.sbatchPath ?? 'sbatch', args, s.env);
    // --parsable prints "<id>" or "<id>;<cluster>".
    const jobId = out.trim().split(';')[0]!;
    if (!/^\d+$/.test(jobId)) throw new SlurmCommandError('sbatch', `unexpected output "${out.trim().slice(0, 200)}"`, undefined);
    return jobId;
  }

  /** The job, or undefined when slurmctld does not know it (never did, or forgot it after MinJobAge). */
  async job(jobId: string): Promise<SlurmJobInfo | undefined> {
    let out: string;
    try {
      out = await this.exec(this.opts.scontrolPath ?? 'scontrol', ['--oneliner', 'show', 'job', jobId]);
    } catch (err) {
      if (err instanceof SlurmCommandError && /Invalid job id/i.test(err.stderr)) return undefined;
      throw err;
    }
    return parseScontrolJob(out);
  }

  /** Ids of the jobs with this name that slurmctld still knows, in any state. */
  async jobsNamed(name: string): Promise<string[]> {
    const out = await this.exec(this.opts.squeuePath ?? 'squeue', ['--noheader', '--states=all', `--name=${name}`, '--format=%i']);
    return out
      .split('\n')
      .filter((l) => /^\d+$/.test(l.trim()))
      .map((l) => l.trim());
  }

  /** Asks Slurm to end the job; a job that is already over is not an error. */
  async cancel(jobId: string): Promise<void> {
    try {
      await this.exec(this.opts.scancelPath ?? 'scancel', [jobId]);
    } catch (err) {
      if (err instanceof SlurmCommandError && /already completing or completed|Invalid job id/i.test(err.stderr)) return;
      throw err;
    }
  }

  /** Whether slurmctld answers. */
  async ping(): Promise<boolean> {
    try {
      await this.exec(this.opts.scontrolPath ?? 'scontrol', ['ping']);
      return true;
    } catch {
      return false;
    }
  }

  private exec(cmd: string, args: string[], env?: Record<string, string>): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(cmd, args, { timeout: this.timeoutMs, env: env ? { ...process.env, ...env } : process.env, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new SlurmCommandError(cmd, String(stderr), err));
        else resolve(String(stdout));
      });
    });
  }
}

/** `scontrol --oneliner show job` output -> the fields we use. */
export function parseScontrolJob(text: string): SlurmJobInfo | undefined {
  const field = (name: string): string => new RegExp(`(?:^|\\s)${name}=(\\S*)`).exec(text)?.[1] ?? '';
  const jobId = field('JobId');
  if (!jobId) return undefined;
  const [exit, sig] = field('ExitCode').split(':');
  return {
    jobId,
    state: field('JobState'),
    exitCode: Number(exit) || 0,
    signal: Number(sig) || 0,
    reason: field('Reason'),
    stdoutPath: field('StdOut'),
  };
}
