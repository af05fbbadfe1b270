/**
 * Bull Board's Retry buttons, answered by RetryTasks (src/tasks/task-retry.ts) instead of
 * BullMQ's Job.retry, so a retry from the dashboard and one from orchctl or the API are the same
 * thing: a new round of the attempts the task was submitted with, attempt numbers going on from
 * where they were, the `requeued` event before the rerun's events, the last round's failure
 * dropped. Job.retry alone would give one more attempt (BullMQ's count is not reset), reuse no
 * event, and rerun a cancelled task.
 *
 * Routes are plain functions returning {status, body}; operator-app.ts mounts them ahead of
 * Bull Board's own, behind the same admin guard. Only the task classes' queues are answered here
 * (the schedule ticks' queue stays Bull Board's read-only one). A succeeded task is not retried
 * (RetryTasks reruns failed tasks only): submit it again instead.
 */
import type { RouteResult } from '../src/monitoring/probe-routes.js';
import { OrchestratorError } from '../src/errors/errors.js';
import { ERROR_CODES } from '../src/errors/error-codes.js';
import { json } from './json-answer.js';
import { EMPTY_FILTER } from '../src/tasks/task-list.js';
import type { TaskRetrier } from '../src/tasks/task-retry.js';
import type { ReplicaWait } from '../src/redis/replica-wait.js';
import { classOfBoardName } from './queue-board.js';

export interface BoardRetryOptions {
  retrier: TaskRetrier;
  /** The task classes: the queues whose retries land here. */
  classes: ReadonlySet<string>;
  /** Retries answer once their writes are on redis.waitReplicas replicas, as RetryTasks does. */
  replicas: ReplicaWait;
}

export class BoardRetry {
  constructor(private readonly opts: BoardRetryOptions) {}

  /** Whether `queueName` is a task class or one's partition (else the request is left to Bull Board). */
  handles(queueName: string): boolean {
    return this.opts.classes.has(classOfBoardName(queueName));
  }

  /** PUT /api/queues/:queueName/:jobId/retry */
  async retryOne(jobId: string): Promise<RouteResult> {
    let o;
    try {
      o = await this.opts.replicas.confirm((w) => this.opts.retrier.retryIds([jobId], undefined, w));
    } catch (err) {
      if (err instanceof OrchestratorError && err.code === 'unavailable') return json(503, { error: 'Task retry not confirmed', message: err.message });
      throw err;
    }
    const e = o.errors[0];
    // A per-task refusal as its code's HTTP status (a task that is not failed is a conflict with
    // its state: 409); Bull Board shows the body's `error` as its toast's title, `message` under it.
    if (e) return json(ERROR_CODES[e.code]?.http ?? 500, { error: 'Task not retried', message: e.message });
    return { status: 204, contentType: 'text/plain', body: '' };
  }

  /** PUT /api/queues/:queueName/retry/:queueStatus: every failed task of the class (every partition's). */
  async retryAll(queueName: string, queueStatus: string): Promise<RouteResult> {
    if (queueStatus !== 'failed') return json(400, { error: `only failed tasks are retried (RetryTasks), not ${queueStatus} ones` });
    let retried = 0;
    let skipped = 0;
    try {
      // RetryTasks stops each call at 10,000 tasks; go on while it says more match and it retried
      // something (tasks failing again meanwhile are not chased for ever).
      for (;;) {
        const o = await this.opts.replicas.confirm((w) =>
          this.opts.retrier.retryMatching({ ...EMPTY_FILTER, taskClasses: [classOfBoardName(queueName)], states: ['failed'] }, undefined, w),
        );
        retried += o.retried.length;
        skipped += o.errors.length;
        if (!o.more || o.retried.length === 0) break;
      }
    } catch (err) {
      if (err instanceof OrchestratorError && err.code === 'invalid_argument') return json(400, { error: err.message });
      if (err instanceof OrchestratorError && err.code === 'unavailable') return json(503, { error: err.message, retried, skipped });
      throw err;
    }
    return json(200, { retried, skipped });
  }
}
