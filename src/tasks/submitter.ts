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
 */
import type { RedisClient } from '../redis/redis-client.js';
import type { Keys } from '../store/keys.js';
import { encodeJob, jobOptionsForAdd, orderedJobData } from '../store/codecs/job-data.js';
import { decodeTaskIndex, encodeTaskIndex } from '../store/codecs/task-index.js';
import { submitTasks, type SubmitEntry, type SubmitReply } from '../store/tasks/submit-tasks.js';
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

export class TaskSubmitter {
  private readonly claim: (entries: readonly SubmitEntry[]) => Promise<SubmitReply>;

  constructor(private readonly opts: SubmitterOptions) {
    this.claim = submitTasks(opts.redis, opts.keys, opts.eventsMaxLen);
  }

  /** Most tasks one submitMany takes (grpc.maxBatchSize). */
  get maxBatchSize(): number {
    return this.opts.maxBatchSize;
  }

  /** `written`: where a caller's acknowledgement notes what was written (src/redis/replica-wait.ts). */
  async submit(task: TaskSubmission, written?: WrittenKeys): Promise<SubmitOutcome> {
    return (await this.submitPrepared([this.prepare(task, 'task')], written))[0]!;
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

  /** Claims and enqueues tasks already validated by prepare(). */
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

    const entries = unique.map((t): SubmitEntry => {
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
    const reply = await this.claim(entries);
    // Noted for existing tasks too: a repeat of a call that was not confirmed waits for the replicas again.
    if (written && reply.kind !== 'conflict') {
      for (const t of unique)
        written.note(this.opts.redis, this.opts.keys.job(t.taskClass, t.taskId)).note(this.opts.redis, this.opts.keys.taskIndex(t.taskId));
    }
    if (reply.kind === 'conflict') {
      const t = unique[reply.index]!;
      const cls = decodeTaskIndex(reply.existing).taskClass;
      throw new OrchestratorError(
        'already_exists',
        `task_id: "${t.taskId}" already exists${cls === t.taskClass ? '' : ` in class ${cls}`} with different content`,
        { field: 'task_id' },
      );
    }

    const created = new Set<string>();
    const existing: ResolvedTask[] = [];
    const jobless: ResolvedTask[] = [];
    unique.forEach((t, i) => {
      const answer = reply.answers[i];
      if (answer === 'created') created.add(t.taskId);
      else if (answer === 'jobless') jobless.push(t);
      // On a cluster the submit script found an existing task's job in its queue already (`jobless` otherwise).
      else if (answer === 'existing' && !this.opts.keys.cluster) existing.push(t);
    });
    // Claimed tasks were added by the claim; an existing task whose job is missing from its
    // queue is added again here.
    const missing = [...jobless, ...(await this.missingJobs(existing))];
    for (const t of missing) written?.note(this.opts.queues.connection, this.opts.keys.job(t.taskClass, t.taskId));
    await this.enqueue(missing);

    return all.map((t) => ({ taskId: t.taskId, taskClass: t.taskClass, created: created.has(t.taskId), scheduled: t.delayMs > 0 }));
  }

  /** Of tasks already in the index, those whose job is missing from their queue. */
  private async missingJobs(tasks: ResolvedTask[]): Promise<ResolvedTask[]> {
    if (tasks.length === 0) return [];
    const pipe = this.opts.redis.pipeline();
    for (const t of tasks) pipe.exists(this.opts.keys.job(t.taskClass, t.taskId));
    const res = (await pipe.exec()) ?? [];
    return tasks.filter((_, i) => res[i]?.[1] === 0);
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
