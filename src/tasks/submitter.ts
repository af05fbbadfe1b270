/**
 * Submission: validate every task, then claim the ids in the cross-class index and add the
 * claimed tasks' jobs to their queues, in one script call for the whole batch.
 *
 * Idempotency: the index maps task_id -> "<class>\t<digest>". Claiming runs in one Lua script
 * for the whole batch, all or nothing: when any id is already taken with different content the
 * script writes nothing and the call fails with already_exists. An id already taken with the
 * same content is "existing": its job is re-added only when it is missing from its queue (it
 * was removed by hand, or by a cancel while queued), which BullMQ's own jobId uniqueness makes
 * safe. The claim and the adds are one script (src/store/lua/tasks/submit-tasks.lua); on a Redis
 * Cluster, where the index lives apart from the classes, they are steps that a crash between
 * leaves completable by the caller's retry (src/store/tasks/submit-tasks.ts submitApart).
 * A task whose record was removed by retention (queues/ keepCompleted/keepFailed) and is
 * submitted again runs again: idempotency lasts as long as the task is retained.
 *
 * Single submissions (submit(): SubmitTask, SubmitTaskStream, schedule ticks) made while the
 * event loop works through one batch of I/O are coalesced into rounds of one script call each: a
 * round goes out when that batch is done (setImmediate: no timer, no wait when a call comes
 * alone), or, while Redis is not busy with this submitter's rounds, as soon as it has
 * EAGER_ROUND tasks, so that Redis runs it while the process decodes the calls behind it (its
 * script call is written at once, not left to the connection's auto-pipeline: lua-command.ts
 * atOnce). Each keeps its own answer, as if sent on its own: its own created or existing, its own
 * already_exists (the script's all or nothing is kept by sending the call again without the task
 * it refused; nothing was written), and a task id given twice in one round waits for the next
 * round, where it meets the first's claim as a separate call would (rounds run in the order sent,
 * on one connection).
 */
import type { RedisClient } from '../redis/redis-client.js';
import type { Keys } from '../store/keys.js';
import { encodeJob, jobOptionsForAdd, orderedJobData } from '../store/codecs/job-data.js';
import { decodeTaskIndex, encodeTaskIndex } from '../store/codecs/task-index.js';
import { submitTasks, type SubmitAnswer, type SubmitEntry, type SubmitReply } from '../store/tasks/submit-tasks.js';
import { groupBy } from '../store/group-by.js';
import { OrchestratorError, invalidArgument } from '../errors/errors.js';
import type { ExecutorPolicy } from '../executors/executor-policy.js';
import { resolveTask, type ResolvedTask, type TaskSubmission } from './task-spec.js';
import type { TaskQueues } from './task-queues.js';
import type { WrittenKeys } from '../redis/replica-wait.js';

export interface SubmitterOptions {
  redis: RedisClient;
  keys: Keys;
  queues: TaskQueues;
  maxPayloadBytes: number;
  maxBatchSize: number;
  eventsMaxLen: number;
  /** What executors may do. @default DEFAULT_EXECUTOR_POLICY */
  executors?: ExecutorPolicy;
}

export interface SubmitOutcome {
  taskId: string;
  taskClass: string;
  /** False when the task already existed with the same content. */
  created: boolean;
  /** Whether it waits out a delay before it can run. */
  scheduled: boolean;
}

/**
 * A round this big goes out at once while fewer than EAGER_IN_FLIGHT of this submitter's rounds
 * wait for Redis. Rounds of 64 (what 64 calls in flight made) left the process idle while Redis
 * ran each; eager rounds of 16 took unary SubmitTask from 0.66 to 0.76 of bare grpc-js (medians of
 * five alternating runs, README Benchmarks). Past EAGER_IN_FLIGHT, Redis is the one behind, and
 * the round grows to MAX_ROUND until the turn of the event loop ends: fewer script calls for the
 * same tasks (a call costs Redis about as much as a task).
 */
export const EAGER_ROUND = 16;
export const EAGER_IN_FLIGHT = 2;
/** Most single submissions one script call takes; more wait for the next round. */
export const MAX_ROUND = 256;

/** A single submission waiting for its round's script call. */
interface PendingSubmit {
  task: ResolvedTask;
  written?: WrittenKeys;
  resolve: (o: SubmitOutcome) => void;
  reject: (err: unknown) => void;
}

export class TaskSubmitter {
  private readonly claim: (entries: readonly SubmitEntry[]) => Promise<SubmitReply>;
  /** Single submissions waiting for their round, in the order made. */
  private pending: PendingSubmit[] = [];
  /** Whether a setImmediate will send what is pending. */
  private roundScheduled = false;
  /** Rounds sent and not yet answered. */
  private roundsInFlight = 0;

  constructor(private readonly opts: SubmitterOptions) {
    this.claim = submitTasks(opts.redis, opts.keys, opts.eventsMaxLen);
  }

  /** Most tasks one submitMany takes (grpc.maxBatchSize). */
  get maxBatchSize(): number {
    return this.opts.maxBatchSize;
  }

  /**
   * One task, coalesced with the other single submissions of this turn of the event loop.
   * `written`: where a caller's acknowledgement notes what was written (src/redis/replica-wait.ts).
   */
  submit(task: TaskSubmission, written?: WrittenKeys): Promise<SubmitOutcome> {
    const resolved = this.prepare(task, 'task');
    return new Promise((resolve, reject) => {
      if (this.pending.push({ task: resolved, written, resolve, reject }) >= EAGER_ROUND && this.roundsInFlight < EAGER_IN_FLIGHT) {
        this.sendRound(EAGER_ROUND);
      } else this.scheduleRound();
    });
  }

  private scheduleRound(): void {
    if (this.roundScheduled || this.pending.length === 0) return;
    this.roundScheduled = true;
    setImmediate(() => {
      this.roundScheduled = false;
      this.sendRound(MAX_ROUND);
    });
  }

  /** Sends a round of the pending submissions, `size` at most; a task id seen twice waits for a later round. */
  private sendRound(size: number): void {
    const round: PendingSubmit[] = [];
    const later: PendingSubmit[] = [];
    const ids = new Set<string>();
    for (const p of this.pending) {
      if (round.length < size && !ids.has(p.task.taskId)) {
        ids.add(p.task.taskId);
        round.push(p);
      } else later.push(p);
    }
    this.pending = later;
    this.scheduleRound();
    if (round.length > 0) void this.submitEach(round);
  }

  /** Submits each task of `round` (unique ids) as if alone: a refused one is answered and the rest sent again. */
  private async submitEach(round: PendingSubmit[]): Promise<void> {
    let left = round;
    this.roundsInFlight++;
    try {
      while (left.length > 0) {
        const unique = left.map((p) => p.task);
        const reply = await this.claim(this.entriesOf(unique));
        if (reply.kind === 'conflict') {
          left[reply.index]!.reject(this.conflictError(unique[reply.index]!, reply.existing));
          left = left.filter((_, i) => i !== reply.index);
          continue;
        }
        const accepted = left;
        // A failure from here on reaches every caller of the round (the catch below): their
        // outcome is unknown, and a retry with the same ids is answered as existing.
        const outcomes = await this.settle(unique, reply.answers, (i) => accepted[i]!.written);
        accepted.forEach((p, i) => p.resolve(outcomes[i]!));
        return;
      }
    } catch (err) {
      for (const p of left) p.reject(err);
    } finally {
      this.roundsInFlight--;
    }
  }

  /** Validates all, then enqueues all; nothing is enqueued when any task is invalid. */
  async submitMany(tasks: TaskSubmission[], written?: WrittenKeys): Promise<SubmitOutcome[]> {
    if (tasks.length === 0) throw invalidArgument('tasks', 'must not be empty');
    if (tasks.length > this.opts.maxBatchSize) {
      throw new OrchestratorError('resource_exhausted', `tasks: ${tasks.length} tasks is over the batch limit of ${this.opts.maxBatchSize}`, {
        field: 'tasks',
      });
    }
    return this.submitPrepared(
      tasks.map((t, i) => this.prepare(t, `tasks[${i}]`)),
      written,
    );
  }

  /**
   * Validates one task and applies its class defaults; throws invalid_argument naming `field`.
   * A task of a client (or a schedule's) must not carry a workflow id: only the workflow engine's
   * step tasks do (prepareStep), and their outcomes advance the run.
   */
  prepare(t: TaskSubmission, field: string): ResolvedTask {
    return resolveTask(t, { classes: this.opts.queues.classes, maxPayloadBytes: this.opts.maxPayloadBytes, field, executors: this.opts.executors });
  }

  /** prepare() for the workflow engine's step tasks, which carry their run's id as workflowId. */
  prepareStep(t: TaskSubmission, field: string): ResolvedTask {
    return resolveTask(t, {
      classes: this.opts.queues.classes,
      maxPayloadBytes: this.opts.maxPayloadBytes,
      field,
      executors: this.opts.executors,
      workflowStep: true,
    });
  }

  /** Claims and enqueues tasks already validated by prepare(), all or nothing. */
  async submitPrepared(all: ResolvedTask[], written?: WrittenKeys): Promise<SubmitOutcome[]> {
    // The same id twice in one batch: fine when identical (kept once), an error otherwise.
    const byId = new Map<string, ResolvedTask>();
    const unique: ResolvedTask[] = [];
    all.forEach((t, i) => {
      const prev = byId.get(t.taskId);
      if (!prev) {
        byId.set(t.taskId, t);
        unique.push(t);
      } else if (prev.taskClass !== t.taskClass || prev.digest !== t.digest) {
        throw invalidArgument(`tasks[${i}].task_id`, `"${t.taskId}" appears twice in the batch with different content`);
      }
    });
    const reply = await this.claim(this.entriesOf(unique));
    if (reply.kind === 'conflict') throw this.conflictError(unique[reply.index]!, reply.existing);
    const outcomes = await this.settle(unique, reply.answers, () => written);
    const byTask = new Map(unique.map((t, i) => [t.taskId, outcomes[i]!]));
    return all.map((t) => byTask.get(t.taskId)!);
  }

  /** The submit script's entries of `tasks` (unique ids). */
  entriesOf(tasks: readonly ResolvedTask[]): SubmitEntry[] {
    return tasks.map((t): SubmitEntry => {
      const queue = this.opts.queues.of(t.taskClass, t.taskId);
      return {
        taskId: t.taskId,
        indexValue: encodeTaskIndex(t),
        taskClass: t.taskClass,
        queueKeys: queue.keys,
        workflowId: t.data.workflowId,
        delayMs: t.delayMs,
        scheduleId: t.data.scheduleId,
        scheduleTickMs: t.scheduleTickMs,
        job: encodeJob(queue, t),
      };
    });
  }

  /** already_exists for `t`, whose id the index holds as `existing` with other content. */
  private conflictError(t: ResolvedTask, existing: string): OrchestratorError {
    const cls = decodeTaskIndex(existing).taskClass;
    return new OrchestratorError(
      'already_exists',
      `task_id: "${t.taskId}" already exists${cls === t.taskClass ? '' : ` in class ${cls}`} with different content`,
      {
        field: 'task_id',
      },
    );
  }

  /**
   * After an accepted claim of `unique`: notes what was written where each task's caller
   * (`writtenOf(i)`) confirms it, adds again the jobs of existing tasks missing from their
   * queue, and answers each task.
   */
  private async settle(
    unique: readonly ResolvedTask[],
    answers: readonly SubmitAnswer[],
    writtenOf: (i: number) => WrittenKeys | undefined,
  ): Promise<SubmitOutcome[]> {
    // Noted for existing tasks too: a repeat of a call that was not confirmed waits for the replicas again.
    unique.forEach((t, i) =>
      writtenOf(i)?.note(this.opts.redis, this.opts.keys.job(t.taskClass, t.taskId)).note(this.opts.redis, this.opts.keys.taskIndex(t.taskId)),
    );
    const existing: ResolvedTask[] = [];
    const jobless = new Set<number>();
    unique.forEach((t, i) => {
      const answer = answers[i];
      if (answer === 'jobless') jobless.add(i);
      // On a cluster the submit script found an existing task's job in its queue already (`jobless` otherwise).
      else if (answer === 'existing' && !this.opts.keys.cluster) existing.push(t);
    });
    // Claimed tasks were added by the claim; an existing task whose job is missing from its
    // queue is added again here.
    const missingExisting = new Set(await this.missingJobs(existing));
    const missing: ResolvedTask[] = [];
    unique.forEach((t, i) => {
      if (!jobless.has(i) && !missingExisting.has(t)) return;
      missing.push(t);
      writtenOf(i)?.note(this.opts.queues.connection, this.opts.keys.job(t.taskClass, t.taskId));
    });
    await this.enqueue(missing);
    return unique.map((t, i) => ({ taskId: t.taskId, taskClass: t.taskClass, created: answers[i] === 'created', scheduled: t.delayMs > 0 }));
  }

  /** Of tasks already in the index, those whose job is missing from their queue. */
  private async missingJobs(tasks: ResolvedTask[]): Promise<ResolvedTask[]> {
    if (tasks.length === 0) return [];
    const pipe = this.opts.redis.pipeline();
    for (const t of tasks) pipe.exists(this.opts.keys.job(t.taskClass, t.taskId));
    const res = (await pipe.exec()) ?? [];
    return tasks.filter((t, i) => {
      // A pipeline answers each command's error in its place: one is this call's failure, not an answer.
      const [err, exists] = res[i] ?? [new Error(`no answer to EXISTS of ${t.taskId}'s job`), null];
      if (err) throw err;
      return exists === 0;
    });
  }

  private async enqueue(tasks: ResolvedTask[]): Promise<void> {
    // One addBulk per queue: a partitioned class's tasks go to their partitions' queues.
    const byQueue = groupBy(tasks, (t) => `${t.taskClass}\t${this.opts.keys.partitionOf(t.taskClass, t.taskId)}`);
    const job = (t: ResolvedTask) => ({ name: t.jobName, data: orderedJobData(t.data), opts: jobOptionsForAdd(t) });
    await Promise.all(
      [...byQueue].map(([, list]) => {
        const queue = this.opts.queues.of(list[0]!.taskClass, list[0]!.taskId);
        // addBulk wraps its jobs in a MULTI; one job goes cheaper on its own.
        if (list.length === 1) {
          const { name, data, opts } = job(list[0]!);
          return queue.add(name, data, opts);
        }
        return queue.addBulk(list.map(job));
      }),
    );
  }
}
