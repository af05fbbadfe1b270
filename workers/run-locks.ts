/**
 * Lock renewal per run, not per job id: BullMQ's LockManager replaced in a pool's Workers.
 *
 * Why: a run that loses its job's lock (Redis away for longer than the lock, or the pool's event
 * loop stalled past it) is not told so by BullMQ; the stall checker queues the job again, and
 * the same Worker may take it while the first run still goes. BullMQ's LockManager keys runs by
 * job id, so the rerun's entry replaced the first run's, and the first run's end removed the
 * rerun's: its lock went unrenewed, it stalled a second time and the task failed "stalled more
 * than allowable limit". Here each run (job id + lock token) is tracked on its own:
 *
 * - A run is renewed with its own token; the end of one run never touches another's renewal.
 * - A run whose renewal BullMQ's script refuses (the lock is gone or another run's), and a run
 *   whose job this Worker is handed again, has lost the job for good: its finish would be
 *   refused too. Its signal is aborted at once with a LockLost, which stops its executor's work
 *   (task-processor.ts then writes nothing for it); the rerun owns the task.
 * - Only the newest run of a job id is renewed: an older one has lost its lock already.
 *
 * BullMQ's processJob untracks by job id alone, so its call is ignored here: TaskWorker untracks
 * each run by its token where BullMQ would, right before the run's finish (handleCompleted,
 * handleFailed, which are given the token) and when processJob ends. An AsyncLocalStorage carrying
 * the token did the same, but on Node 20 it turns on async hooks for every promise of the pool's
 * process (about 5% of a pool's CPU in the workflow run's profile).
 */
import { LockManager, Worker, type Job } from 'bullmq';

/** The reason a run's signal is aborted when its job's lock is no longer its own. */
export class LockLost extends Error {
  constructor(why: string) {
    super(`lock lost: ${why}`);
    this.name = 'LockLost';
  }
}

interface Run {
  token: string;
  /** When its lock was last renewed (or taken), ms since the epoch. */
  ts: number;
  controller?: AbortController;
  /** Set once the run is known to have lost its lock: never renewed again. */
  lost: boolean;
}

export interface RunLockManagerOptions {
  lockRenewTime: number;
  lockDuration: number;
  workerId: string;
  workerName?: string;
}

type WorkerContext = ConstructorParameters<typeof LockManager>[0];

export class RunLockManager extends LockManager {
  /** job id -> its runs on this Worker, oldest first. */
  private readonly runs = new Map<string, Run[]>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    worker: WorkerContext,
    private readonly options: RunLockManagerOptions,
  ) {
    super(worker, options);
  }

  override start(): void {
    if (this.stopped || this.options.lockRenewTime <= 0) return;
    this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const half = this.options.lockRenewTime / 2;
    this.timer = setTimeout(async () => {
      const now = Date.now();
      const due: [string, Run][] = [];
      for (const [jobId, runs] of this.runs) {
        const run = runs[runs.length - 1]!;
        if (run.lost) continue;
        if (!run.ts) run.ts = now;
        else if (run.ts + half < now) {
          run.ts = now;
          due.push([jobId, run]);
        }
      }
      if (due.length) await this.renew(due);
      this.schedule();
    }, half);
  }

  private async renew(due: [string, Run][]): Promise<void> {
    try {
      const refused = new Set(
        await this.worker.extendJobLocks(
          due.map(([id]) => id),
          due.map(([, r]) => r.token),
          this.options.lockDuration,
        ),
      );
      for (const [jobId, run] of due) if (refused.has(jobId)) this.lose(jobId, run, 'its lock expired or was taken over before it was renewed');
      if (refused.size) this.worker.emit('lockRenewalFailed', [...refused]);
    } catch (err) {
      // Redis unreachable: nothing is known yet. The next renewal, or the run's finish, tells.
      this.worker.emit('error', err);
    }
  }

  private lose(jobId: string, run: Run, why: string): void {
    if (run.lost) return;
    run.lost = true;
    run.controller?.abort(new LockLost(why));
  }

  override async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.runs.clear();
  }

  override trackJob(jobId: string, token: string, ts: number, shouldCreateController = false): ReturnType<LockManager['trackJob']> {
    const controller = shouldCreateController ? new AbortController() : undefined;
    // BullMQ types its controller with a polyfill's types; at run time it is this same class.
    const bullController = controller as unknown as ReturnType<LockManager['trackJob']>;
    if (this.stopped || !jobId) return bullController;
    const runs = this.runs.get(jobId) ?? [];
    // This Worker was handed the job again: every earlier run of it here has lost it.
    for (const old of runs) if (old.token !== token) this.lose(jobId, old, 'the task was queued again and this pool took it anew');
    runs.push({ token, ts, controller, lost: false });
    this.runs.set(jobId, runs);
    return bullController;
  }

  /** BullMQ's untrack names the job, not the run: TaskWorker untracks each run itself (untrackRun). */
  override untrackJob(): void {}

  /** Stops tracking the run of `jobId` holding `token`: it ends, and its lock is no longer renewed. */
  untrackRun(jobId: string, token: string): void {
    const runs = this.runs.get(jobId);
    if (!runs) return;
    const left = runs.filter((r) => r.token !== token);
    if (left.length) this.runs.set(jobId, left);
    else this.runs.delete(jobId);
  }

  override getActiveJobCount(): number {
    let n = 0;
    for (const runs of this.runs.values()) n += runs.length;
    return n;
  }

  override isRunning(): boolean {
    return !this.stopped && this.timer !== undefined;
  }

  /** Aborts every run of `jobId` (a cancel of the task). */
  override cancelJob(jobId: string, reason?: string): boolean {
    const runs = this.runs.get(jobId) ?? [];
    for (const r of runs) r.controller?.abort(reason);
    return runs.some((r) => r.controller);
  }

  /** Aborts the one run of `jobId` holding `token` (its timeout, say). */
  cancelRun(jobId: string, token: string, reason: unknown): boolean {
    const run = this.runs.get(jobId)?.find((r) => r.token === token);
    run?.controller?.abort(reason);
    return Boolean(run?.controller);
  }

  override cancelAllJobs(reason?: string): void {
    for (const runs of this.runs.values()) for (const r of runs) r.controller?.abort(reason);
  }

  override getTrackedJobIds(): string[] {
    return [...this.runs.keys()];
  }
}

/** A BullMQ Worker whose runs are tracked one by one (RunLockManager). */
export class TaskWorker<D = unknown> extends Worker<D> {
  protected override createLockManager(): void {
    this.lockManager = new RunLockManager(this as unknown as WorkerContext, {
      lockRenewTime: this.opts.lockRenewTime!,
      lockDuration: this.opts.lockDuration!,
      workerId: this.id,
      workerName: this.opts.name,
    });
  }

  private get runLocks(): RunLockManager {
    return this.lockManager as RunLockManager;
  }

  override async processJob(job: Job<D>, token: string, fetchNextCallback?: () => boolean): ReturnType<Worker<D>['processJob']> {
    try {
      return await super.processJob(job, token, fetchNextCallback);
    } finally {
      // Where BullMQ's own untrack comes last (a run that never reached its finish).
      this.runLocks.untrackRun(job.id!, token);
    }
  }

  // BullMQ untracks a run right before its finish: no renewal races the finish's script.
  protected override handleCompleted(...args: Parameters<Worker<D>['handleCompleted']>): ReturnType<Worker<D>['handleCompleted']> {
    this.runLocks.untrackRun(args[1].id!, args[2]);
    return super.handleCompleted(...args);
  }

  protected override handleFailed(...args: Parameters<Worker<D>['handleFailed']>): ReturnType<Worker<D>['handleFailed']> {
    this.runLocks.untrackRun(args[1].id!, args[2]);
    return super.handleFailed(...args);
  }

  /** Aborts the run of `jobId` holding `token`, not a newer one of the same job. */
  cancelRun(jobId: string, token: string, reason: unknown): boolean {
    return this.runLocks.cancelRun(jobId, token, reason);
  }
}
