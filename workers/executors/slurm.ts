/**
 * The `slurm` executor: submits one attempt as a Slurm batch job and waits for it to end. The
 * pool only waits on Slurm here, so no sandbox is involved (like `command` and `container`).
 *
 * Why it is shaped like this:
 * - A job is submitted at most once per attempt. Its id is stored in Redis (slurm-job-ids.ts)
 *   before the pool starts waiting, so when the pool dies and BullMQ's stall recovery runs the
 *   same attempt on another pool, that pool finds the id and re-attaches to the job instead of
 *   submitting another. For the short window between sbatch answering and the id being stored,
 *   the job carries a name unique to the attempt, and a rerun that finds no id asks Slurm for
 *   a job of that name first.
 * - Cancel and the task's timeout run scancel and then wait for Slurm to report the job over,
 *   so a rejected attempt leaves no job running. A pool handing its tasks back on shutdown
 *   does not cancel: the next run of the attempt re-attaches to the job.
 * - The job sees PATH, LANG, LC_ALL, TZ, the class's pass-through names and the task's
 *   variables only (`--export` with names), not the pool's whole environment, which may hold
 *   Redis URLs and tokens.
 * - The job's state is read with `scontrol show job`, which works without Slurm's accounting
 *   database (see src/slurm/slurm-cli.ts); output goes to `<spoolDir>/<job id>.out`, whose
 *   tail is the result's `stdout`.
 */
import { mkdir, open, unlink, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../src/logging/logger.js';
import { SLURM_FINAL_STATES, type SlurmCli, type SlurmJobInfo } from '../../src/slurm/slurm-cli.js';
import { TaskError } from '../../src/errors/errors.js';
import type { SlurmExecutorSpec } from '../../src/tasks/task-spec.js';
import type { SlurmJobIds } from '../slurm-job-ids.js';
import { abortError } from './abort-error.js';
import type { ExecutionContext, Executor } from './executor.js';

export type SlurmSpec = Omit<SlurmExecutorSpec, 'kind'>;

export interface SlurmExecutorOptions {
  cli: SlurmCli;
  jobIds: SlurmJobIds;
  /** The Redis key prefix: part of every job's name, so deployments sharing a cluster stay apart. */
  prefix: string;
  /** Absolute directory for scripts and output; shared with the compute nodes. */
  spoolDir: string;
  /** @default 2000 */
  pollIntervalMs?: number;
  /** Partition of a task that names none; '' for Slurm's default. */
  defaultPartition?: string;
  /** Bytes of the job's output kept (the tail). @default 16384 */
  outputTailBytes?: number;
  /** Variables of the pool's environment a class's jobs get besides PATH, LANG, LC_ALL and TZ. @default none */
  envPassthrough?: (taskClass: string) => readonly string[];
  /** How long to wait for Slurm to report a cancelled job over before giving up on it. @default 30000 */
  cancelWaitMs?: number;
  logger: Logger;
}

export interface SlurmResult {
  exitCode: number;
  /** The tail of the job's output file (stdout and stderr together). */
  stdout: string;
  stderr: string;
  durationMs: number;
  slurmJobId: string;
  state: string;
}

/** Slurm states of a job that is not over. */
const LIVE_STATES = new Set(['PENDING', 'CONFIGURING', 'RUNNING', 'SUSPENDED', 'REQUEUED', 'RESIZING']);

/** Variables a job gets from the pool's environment besides the task's own. */
const INHERITED_ENV = ['PATH', 'LANG', 'LC_ALL', 'TZ'];

export class SlurmExecutor implements Executor<SlurmSpec> {
  readonly kind = 'slurm';
  private readonly pollIntervalMs: number;
  private readonly log: Logger;

  constructor(private readonly opts: SlurmExecutorOptions) {
    this.pollIntervalMs = opts.pollIntervalMs ?? 2000;
    this.log = opts.logger.child({ component: 'slurm-executor' });
  }

  async run(spec: SlurmSpec, _payload: Record<string, string>, ctx: ExecutionContext): Promise<SlurmResult> {
    if (ctx.signal.aborted) throw abortError(ctx.signal.reason, 'slurm job cancelled');
    const started = performance.now();
    const jobId = await this.attachOrSubmit(spec, ctx);
    const log = this.log.child({ taskId: ctx.taskId, attempt: ctx.attempt, slurmJobId: jobId });

    // Wakes the poll loop early when the signal aborts.
    const wake = new AbortController();
    let cancelledAt: number | undefined;
    const onAbort = (): void => {
      // Only the end of the attempt cancels the job; a hand-back leaves it for the next run.
      if (ctx.signal.reason instanceof TaskError) {
        cancelledAt = performance.now();
        this.opts.cli.cancel(jobId).catch((err: unknown) => log.warn({ err }, 'scancel failed'));
      }
      wake.abort();
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    if (ctx.signal.aborted) onAbort();
    let info: SlurmJobInfo;
    try {
      info = await this.waitForEnd(jobId, ctx, wake.signal, () => cancelledAt, log);
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
    await this.opts.jobIds.ended(ctx.taskId, ctx.attempt).catch((err: unknown) => log.warn({ err }, 'could not expire the job id record'));

    const stdout = await readTail(info.stdoutPath || join(this.opts.spoolDir, `${jobId}.out`), this.opts.outputTailBytes ?? 16_384);
    // The job's output file (stdout and stderr together), its tail, is the attempt's log too.
    if (stdout !== '') ctx.output?.write('stdout', stdout);
    const detail = { slurmJobId: jobId, state: info.state, exitCode: info.exitCode, stdout, stderr: '' };
    if (cancelledAt !== undefined) throw abortError(ctx.signal.reason, 'slurm job cancelled', detail);
    return slurmOutcome(info, stdout, performance.now() - started);
  }

  /** scancel the attempt's job (found by its stored id or its name), if Slurm still has one. */
  async abandon(taskId: string, attempt: number): Promise<void> {
    const { cli, jobIds } = this.opts;
    const stored = await jobIds.get(taskId, attempt);
    const ids = stored !== undefined ? [stored] : await cli.jobsNamed(slurmJobName(this.opts.prefix, taskId, attempt));
    for (const jobId of ids) {
      const info = await cli.job(jobId);
      if (!info || !LIVE_STATES.has(info.state)) continue;
      this.log.warn({ taskId, attempt, slurmJobId: jobId }, 'the task stalled out with its Slurm job still known: cancelling the job');
      await cli.cancel(jobId);
    }
    await jobIds.ended(taskId, attempt);
  }

  /** The attempt's job: the one an earlier run of it submitted, if Slurm still knows it, else a new one. */
  private async attachOrSubmit(spec: SlurmSpec, ctx: ExecutionContext): Promise<string> {
    const { cli, jobIds } = this.opts;
    const name = slurmJobName(this.opts.prefix, ctx.taskId, ctx.attempt);
    const log = this.log.child({ taskId: ctx.taskId, attempt: ctx.attempt });
    try {
      const stored = await jobIds.get(ctx.taskId, ctx.attempt);
      if (stored !== undefined) {
        if (await cli.job(stored)) {
          log.info({ slurmJobId: stored }, 're-attaching to the Slurm job an earlier run of this attempt submitted');
          return stored;
        }
        log.warn({ slurmJobId: stored }, 'Slurm no longer knows the job an earlier run submitted: submitting again');
      } else {
        // A run that died between sbatch and storing the id left a job with this name.
        const named = await cli.jobsNamed(name);
        if (named.length > 0) {
          const jobId = named[named.length - 1]!;
          log.info({ slurmJobId: jobId }, 're-attaching to a Slurm job an earlier run of this attempt submitted');
          await jobIds.set(ctx.taskId, ctx.attempt, jobId);
          return jobId;
        }
      }
    } catch (err) {
      throw slurmError('looking for an earlier job of this attempt', err);
    }

    await mkdir(this.opts.spoolDir, { recursive: true });
    const scriptPath = join(this.opts.spoolDir, `${ctx.taskId}.${ctx.attempt}.${process.pid}.sh`);
    await writeFile(scriptPath, spec.script || commandScript(spec.command), { mode: 0o700 });
    const env: Record<string, string> = {
      ...ctx.env,
      ...spec.env,
      ORCHESTRATOR_TASK_ID: ctx.taskId,
      ORCHESTRATOR_TASK_CLASS: ctx.taskClass,
      ORCHESTRATOR_ATTEMPT: String(ctx.attempt),
    };
    let jobId: string;
    try {
      jobId = await cli.submit({
        scriptPath,
        jobName: name,
        outputPath: join(this.opts.spoolDir, '%j.out'),
        workDir: this.opts.spoolDir,
        partition: spec.partition || this.opts.defaultPartition || undefined,
        account: spec.account || undefined,
        gres: spec.gres || undefined,
        cpus: spec.cpus || undefined,
        memoryMb: spec.memoryMb || undefined,
        timeLimitMinutes: spec.timeLimitMinutes || undefined,
        env,
        exportNames: [...new Set([...INHERITED_ENV, ...(this.opts.envPassthrough?.(ctx.taskClass) ?? [])])]
          .filter((k) => process.env[k] !== undefined && !(k in env))
          .concat(Object.keys(env)),
      });
    } catch (err) {
      throw slurmError('submitting the job (sbatch)', err);
    } finally {
      // sbatch keeps its own copy of the script.
      await unlink(scriptPath).catch(() => undefined);
    }
    await jobIds.set(ctx.taskId, ctx.attempt, jobId);
    log.info({ slurmJobId: jobId }, 'submitted a Slurm job');
    return jobId;
  }

  /** Polls until the job is over; throws when the wait is abandoned. */
  private async waitForEnd(jobId: string, ctx: ExecutionContext, wake: AbortSignal, cancelledAt: () => number | undefined, log: Logger): Promise<SlurmJobInfo> {
    let warned = false;
    for (;;) {
      let info: SlurmJobInfo | undefined | null = null;
      try {
        info = await this.opts.cli.job(jobId);
      } catch (err) {
        // slurmctld may be restarting: keep waiting (the task's timeout bounds the wait).
        if (!warned) log.warn({ err }, 'could not read the Slurm job; still waiting');
        warned = true;
      }
      if (info === undefined) {
        throw new TaskError('task_failed', `Slurm no longer knows job ${jobId}: its outcome is lost`, { retryable: true, detail: { slurmJobId: jobId } });
      }
      if (info && SLURM_FINAL_STATES.has(info.state)) return info;
      if (ctx.signal.aborted) {
        const since = cancelledAt();
        // A hand-back: stop waiting and leave the job to the next run.
        if (since === undefined) throw abortError(ctx.signal.reason, 'slurm job left running', { slurmJobId: jobId });
        if (performance.now() - since > (this.opts.cancelWaitMs ?? 30_000)) {
          log.warn('Slurm did not report the cancelled job over in time');
          throw abortError(ctx.signal.reason, 'slurm job cancelled', { slurmJobId: jobId, state: info?.state ?? 'unknown' });
        }
      }
      // After an abort, poll faster: the job should end within moments of scancel.
      const interval = ctx.signal.aborted ? Math.min(this.pollIntervalMs, 250) : this.pollIntervalMs;
      await sleep(interval, undefined, { signal: ctx.signal.aborted ? undefined : wake }).catch(() => undefined);
    }
  }
}

/**
 * The result of a job that ended on its own (not cancelled by us), or the TaskError it ends
 * the attempt with.
 */
export function slurmOutcome(info: SlurmJobInfo, stdout: string, durationMs: number): SlurmResult {
  // The signal by name, as a command's is: what the task's failure shows (src/errors/task-failure.ts).
  const detail = {
    slurmJobId: info.jobId,
    state: info.state,
    exitCode: info.exitCode,
    stdout,
    stderr: '',
    ...(info.signal ? { signal: signalName(info.signal) } : {}),
  };
  const job = `slurm job ${info.jobId}`;
  switch (info.state) {
    case 'COMPLETED':
      return { ...detail, durationMs };
    case 'FAILED':
      throw new TaskError('task_failed', info.signal ? `${job} killed by signal ${info.signal}` : `${job} exited with code ${info.exitCode}`, {
        retryable: true,
        detail,
      });
    case 'OUT_OF_MEMORY':
      // The same limit would end it again.
      throw new TaskError('task_failed', `${job} ran out of memory`, { retryable: false, detail });
    case 'TIMEOUT':
    case 'DEADLINE':
      throw new TaskError('timed_out', `${job} reached its Slurm time limit`, { retryable: false, detail });
    case 'CANCELLED':
      // Someone cancelled it in Slurm (an operator's scancel): running it again would overrule them.
      throw new TaskError('task_failed', `${job} was cancelled in Slurm (${info.reason})`, { retryable: false, detail });
    default:
      // NODE_FAIL, BOOT_FAIL, PREEMPTED: the cluster's trouble, not the job's.
      throw new TaskError('task_failed', `${job} ended ${info.state} (${info.reason})`, { retryable: true, detail });
  }
}

/** The job name of an attempt: unique to it, so a rerun can find a job whose id was never stored. */
export function slurmJobName(prefix: string, taskId: string, attempt: number): string {
  return `orq:${prefix}:${taskId}:${attempt}`;
}

/** A script that runs `argv` as is: every word quoted for sh, no expansion. */
export function commandScript(argv: readonly string[]): string {
  return `#!/bin/sh\nexec ${argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')}\n`;
}

/** The last `bytes` of a file, '' when it cannot be read (a job that never started writes none). */
async function readTail(path: string, bytes: number): Promise<string> {
  if (bytes === 0) return '';
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return '';
  }
  try {
    const { size } = await fh.stat();
    const length = Math.min(size, bytes);
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, size - length);
    let start = 0;
    // Drop a multi-byte character cut in half by the start of the tail.
    if (length < size) while (start < buf.length && start < 3 && (buf[start]! & 0xc0) === 0x80) start++;
    return buf.subarray(start).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** Slurm refused or did not answer: retryable, since another pool or a moment later may do better. */
function slurmError(what: string, err: unknown): TaskError {
  if (err instanceof TaskError) return err;
  const message = err instanceof Error ? err.message : String(err);
  // sbatch refusing the request itself (bad partition, gres, limits) will refuse it again.
  const refused = /invalid|unavailable|not available|not permitted|exceeds/i.test(message) && what.startsWith('submitting');
  return new TaskError('task_failed', `slurm: ${what}: ${message}`, { retryable: !refused, cause: err });
}

/** "SIGKILL" for 9; the number as text for one this platform does not name. */
function signalName(n: number): string {
  return Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? String(n);
}
