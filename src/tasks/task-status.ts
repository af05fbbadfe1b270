/**
 * Task state as clients see it, read from the cross-class index and the task's BullMQ job.
 *
 * BullMQ state -> ours: waiting, prioritized, waiting-children -> queued; delayed -> scheduled
 * (a delay, or a retry's backoff); active -> running; completed -> succeeded; failed -> failed,
 * or cancelled when a cancel was requested.
 */
import { decodeTaskIndex, submittedMs } from '../store/codecs/task-index.js';
import { Job, type JobState } from 'bullmq';
import { readTaskStatus, type TaskStatusRead } from '../store/tasks/read-task-status.js';
import type { RedisClient } from '../redis/redis-client.js';
import type { Keys } from '../store/keys.js';
import { OrchestratorError } from '../errors/errors.js';
import { attemptsBefore, fromBullPriority, type TaskJobData } from './task-spec.js';
import type { TaskQueues } from './task-queues.js';
import { FAILURE_FIELD, failureFromMessage, parseFailure, type TaskFailure } from '../errors/task-failure.js';

export type TaskState = 'queued' | 'scheduled' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface TaskStatusView {
  taskId: string;
  taskClass: string;
  state: TaskState;
  /** Attempts made in this round (a RetryTasks starts a new round at 0). */
  attemptsMade: number;
  /** Attempts this round allows. */
  maxAttempts: number;
  /** The number events and results carry for the latest attempt (0 before the first). */
  attempt: number;
  /** Failed or cancelled: why (its message is `error` too). */
  failure?: TaskFailure;
  resultJson: string;
  error: string;
  progressJson: string;
  workerId: string;
  submittedAtMs: number;
  startedAtMs: number;
  finishedAtMs: number;
  workflowId: string;
  priority: number;
  /** The schedule that submitted the task; '' for none. */
  scheduleId: string;
  /** Why resultJson is empty although the task has a stored result ('' when it is not). */
  undeliverable: string;
}

export function mapState(state: JobState | 'unknown', cancelRequested: boolean): TaskState {
  switch (state) {
    case 'completed':
      return 'succeeded';
    case 'failed':
      return cancelRequested ? 'cancelled' : 'failed';
    case 'active':
      return 'running';
    case 'delayed':
      return 'scheduled';
    default:
      return 'queued';
  }
}

export interface TaskStatusReaderOptions {
  redis: RedisClient;
  keys: Keys;
  queues: TaskQueues;
  /**
   * Most bytes of result JSON a status carries; a larger stored result (written before the
   * classes' maxResultBytes bounded it, or by other means) is left out and `undeliverable` says
   * so, rather than every read of the task failing. @default no limit
   */
  maxResultBytes?: number;
}

export class TaskStatusReader {
  /** GetTaskStatus's one-call read, on a single Redis (on a cluster the index and the class's keys are apart). */
  private readonly readOne?: (taskId: string) => Promise<TaskStatusRead>;

  constructor(private readonly opts: TaskStatusReaderOptions) {
    if (!opts.keys.feedsPerClass) this.readOne = readTaskStatus(opts.redis, opts.keys);
  }

  /** The task's class, or not_found. */
  async classOf(taskId: string): Promise<{ taskClass: string; cancelReason: string | null }> {
    const { taskClass, cancelReason } = await this.indexed(taskId);
    return { taskClass, cancelReason };
  }

  /** The task's class and submit time (its list entry's ms) from its index value, and its cancel mark; or not_found. */
  private async indexed(taskId: string): Promise<{ taskClass: string; submittedAtMs?: number; cancelReason: string | null; claimedOnly: boolean }> {
    const { redis, keys } = this.opts;
    let entry: string | null;
    let cancelReason: string | null;
    if (keys.feedsPerClass) {
      // On a cluster a task's cancel mark is in its class's hash (keys.ts cancelOf), found once the index named the class.
      entry = await redis.hget(keys.taskIndex(taskId), taskId);
      const cls = entry ? decodeTaskIndex(entry).taskClass : '';
      cancelReason = entry ? await redis.hget(keys.cancelOf(cls, keys.partitionOf(cls, taskId)), taskId) : null;
    } else {
      [[, entry], [, cancelReason]] = (await redis.pipeline().hget(keys.taskIndex(taskId), taskId).hget(keys.cancel, taskId).exec()) as [
        [unknown, string | null],
        [unknown, string | null],
      ];
    }
    if (!entry) throw new OrchestratorError('not_found', `task_id: no task "${taskId}"`, { field: 'task_id' });
    const v = decodeTaskIndex(entry);
    return { taskClass: v.taskClass, submittedAtMs: submittedMs(v), cancelReason, claimedOnly: v.listEntry === '' && v.claimedMs !== '' };
  }

  async get(taskId: string): Promise<TaskStatusView> {
    if (this.readOne) return this.getInOneCall(taskId);
    // The index value's list entry gives the submit time reported (see view()).
    const { taskClass, submittedAtMs, cancelReason, claimedOnly } = await this.indexed(taskId);
    const queue = this.opts.queues.of(taskClass, taskId);
    // Sent together: the failure is read with the job rather than after it, whatever the state turns out to be.
    const [found, failureJson] = await Promise.all([Job.fromId(queue, taskId), this.opts.redis.hget(queue.toKey(taskId), FAILURE_FIELD)]);
    const job = found as Job<TaskJobData> | undefined;
    if (!job) return this.jobless(taskId, taskClass, submittedAtMs, cancelReason, claimedOnly);
    const state = await job.getState();
    if ((state === 'completed' || state === 'failed') && !job.finishedOn) {
      // It finished between reading the job and reading its state: read the finished job.
      const [again, json] = await Promise.all([Job.fromId(queue, taskId), this.opts.redis.hget(queue.toKey(taskId), FAILURE_FIELD)]);
      const finished = again as Job<TaskJobData> | undefined;
      if (finished) return this.view(finished, state, cancelReason !== null, submittedAtMs, json);
    }
    return this.view(job, state, cancelReason !== null, submittedAtMs, failureJson);
  }

  /** get() on a single Redis: one script reads the index, the cancel mark, the job and its state at one instant. */
  private async getInOneCall(taskId: string): Promise<TaskStatusView> {
    const read = await this.readOne!(taskId);
    if (read.indexValue === null) throw new OrchestratorError('not_found', `task_id: no task "${taskId}"`, { field: 'task_id' });
    const v = decodeTaskIndex(read.indexValue);
    const { taskClass } = v;
    const submittedAtMs = submittedMs(v);
    // The class is Redis's word: one this front end does not serve throws here, as it would reading the job.
    const queue = this.opts.queues.of(taskClass, taskId);
    if (!read.job) return this.jobless(taskId, taskClass, submittedAtMs, read.cancelReason, v.listEntry === '' && v.claimedMs !== '');
    return this.view(
      jobOfHash(queue.name, taskId, read.job.fields),
      read.job.state,
      read.cancelReason !== null,
      submittedAtMs,
      read.job.fields[FAILURE_FIELD] ?? null,
    );
  }

  /** A task whose job is gone: cancelled while queued, claimed by a submission that did not complete, or no longer retained. */
  private jobless(taskId: string, taskClass: string, submittedAtMs: number | undefined, cancelReason: string | null, claimedOnly: boolean): TaskStatusView {
    if (cancelReason !== null) {
      const error = `cancelled: ${cancelReason}`;
      return { ...empty(taskId, taskClass), state: 'cancelled', error, failure: failureFromMessage(error, 'cancelled'), submittedAtMs: submittedAtMs ?? 0 };
    }
    if (claimedOnly) {
      // Claimed on a Redis Cluster by a submission that stopped before adding it (codecs/task-index.ts).
      throw new OrchestratorError('not_found', `task_id: task "${taskId}" was claimed by a submission that did not complete; submit it again`, {
        field: 'task_id',
      });
    }
    throw new OrchestratorError('not_found', `task_id: task "${taskId}" is no longer retained`, { field: 'task_id' });
  }

  /**
   * `submittedAtMs`: the ms of the task's entry in its class's task list, the time ListTasks
   * filters and pages on (Redis's clock when the claim script ran, also the `at` of its
   * `submitted` event).
   * BullMQ's job timestamp is the front end's clock a moment earlier, when the job was encoded:
   * reporting it made a window built from reported times miss the tasks at its edges. Falls back
   * to the job timestamp for a task without a task-list entry.
   */
  view(job: StatusJob, state: JobState | 'unknown', cancelRequested: boolean, submittedAtMs?: number, failureJson?: string | null): TaskStatusView {
    const ours = mapState(state, cancelRequested);
    const before = attemptsBefore(job.data);
    let resultJson = state === 'completed' ? JSON.stringify(job.returnvalue ?? null) : '';
    let undeliverable = '';
    const max = this.opts.maxResultBytes;
    if (max !== undefined && resultJson.length * 3 > max) {
      const bytes = Buffer.byteLength(resultJson);
      if (bytes > max) {
        undeliverable = `stored result of ${bytes} bytes is over the ${max}-byte limit of one message`;
        resultJson = '';
      }
    }
    const error = job.failedReason ?? '';
    // BullMQ's count is this round's (RetryTasks restarts it); attempt numbers go on from the
    // rounds before.
    const made = ours === 'running' ? job.attemptsMade + 1 : job.attemptsMade;
    let failure: TaskFailure | undefined;
    if (ours === 'failed' || ours === 'cancelled') {
      // A failure the pool recorded, else one known by its message (a cancel while queued, a task
      // failed by the stall check, a job failed by other means).
      failure = parseFailure(failureJson) ?? failureFromMessage(error, ours === 'cancelled' ? 'cancelled' : failedKind(error));
      // Recorded before a cancel reached a running task that then failed on its own: cancelled wins.
      if (ours === 'cancelled' && failure.kind !== 'cancelled') failure = { ...failure, kind: 'cancelled', retryable: false };
    }
    return {
      taskId: job.id!,
      taskClass: job.queueName,
      state: ours,
      attemptsMade: made,
      maxAttempts: job.opts.attempts ?? 1,
      attempt: before + made,
      ...(failure ? { failure } : {}),
      resultJson,
      error,
      progressJson: job.progress === undefined || job.progress === 0 ? '' : JSON.stringify(job.progress),
      workerId: job.processedBy ?? '',
      submittedAtMs: submittedAtMs ?? job.timestamp ?? 0,
      startedAtMs: job.processedOn ?? 0,
      finishedAtMs: job.finishedOn ?? 0,
      workflowId: job.data.workflowId ?? '',
      priority: fromBullPriority(job.priority),
      scheduleId: job.data.scheduleId ?? '',
      undeliverable,
    };
  }
}

/** What a status shows of a task's BullMQ job: a Job has it, and so has a job read from its hash (jobOfHash). */
export type StatusJob = Pick<
  Job<TaskJobData>,
  | 'id'
  | 'queueName'
  | 'data'
  | 'returnvalue'
  | 'failedReason'
  | 'attemptsMade'
  | 'progress'
  | 'processedBy'
  | 'timestamp'
  | 'processedOn'
  | 'finishedOn'
  | 'priority'
> & { opts: { attempts?: number } };

const int = (v: string | undefined): number | undefined => (v ? parseInt(v, 10) : undefined);

/**
 * A job's hash (as HGETALL gives it) read the way BullMQ reads one (its Job.fromId): the
 * attempts made under BullMQ's short name `atm`, the worker under `pb`, the return value and
 * progress as JSON, the options' attempts from the stored options.
 */
export function jobOfHash(queueName: string, id: string, h: Record<string, string>): StatusJob {
  let returnvalue: unknown;
  if (h.returnvalue !== undefined) {
    try {
      returnvalue = JSON.parse(h.returnvalue);
    } catch {
      returnvalue = h.returnvalue;
    }
  }
  const opts = JSON.parse(h.opts || '{}') as { attempts?: unknown };
  return {
    id,
    queueName,
    data: JSON.parse(h.data || '{}') as TaskJobData,
    opts: { attempts: typeof opts.attempts === 'number' ? opts.attempts : undefined },
    returnvalue,
    failedReason: h.failedReason as string,
    attemptsMade: int(h.atm ?? h.attemptsMade) ?? 0,
    progress: JSON.parse(h.progress || '0') as Job['progress'],
    processedBy: h.pb,
    timestamp: int(h.timestamp) ?? 0,
    processedOn: int(h.processedOn),
    finishedOn: int(h.finishedOn),
    priority: int(h.priority) ?? 0,
  };
}

/** A failed task's kind, read back from the prefix of its stored error (processor's failedReason). */
export function failedKind(error: string): string {
  if (error.startsWith('timed out')) return 'timed_out';
  if (error.startsWith('result too large')) return 'result_too_large';
  if (error.startsWith('refused by the pool')) return 'policy_denied';
  return 'task_failed';
}

function empty(taskId: string, taskClass: string): TaskStatusView {
  return {
    taskId,
    taskClass,
    state: 'queued',
    attemptsMade: 0,
    maxAttempts: 0,
    attempt: 0,
    resultJson: '',
    error: '',
    progressJson: '',
    workerId: '',
    submittedAtMs: 0,
    startedAtMs: 0,
    finishedAtMs: 0,
    workflowId: '',
    priority: 0,
    scheduleId: '',
    undeliverable: '',
  };
}
