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
import { OrchestratorError } from '../src/tasks/errors.js';
import { EMPTY_FILTER } from '../src/tasks/task-list.js';
import type { TaskRetrier } from '../src/tasks/task-retry.js';

export interface BoardRetryOptions {
  retrier: TaskRetrier;
  /** The task classes: the queues whose retries land here. */
  classes: ReadonlySet<string>;
}

const json = (status: number, body: unknown): RouteResult => ({ status, contentType: 'application/json; charset=utf-8', body: JSON.stringify(body) });

/**
 * A per-task refusal as an HTTP status; Bull Board shows the body's `error` as its toast's title
 * and `message` under it. A task that is not failed (cancelled: a cancelled task stays
 * cancelled; succeeded; still queued or running) is a conflict with its state.
 */
const HTTP_OF: Partial<Record<string, number>> = { not_found: 404, failed_precondition: 409, invalid_argument: 400 };

export class BoardRetry {
  constructor(private readonly opts: BoardRetryOptions) {}

  /** Whether `queueName` is a task class (else the request is left to Bull Board). */
  handles(queueName: string): boolean {
    return this.opts.classes.has(queueName);
  }

  /** PUT /api/queues/:queueName/:jobId/retry */
  async retryOne(jobId: string): Promise<RouteResult> {
    const o = await this.opts.retrier.retryIds([jobId]);
    const e = o.errors[0];
    if (e) return json(HTTP_OF[e.code] ?? 500, { error: 'Task not retried', message: e.message });
    return { status: 204, contentType: 'text/plain', body: '' };
  }

  /** PUT /api/queues/:queueName/retry/:queueStatus: every failed task of the class. */
  async retryAll(queueName: string, queueStatus: string): Promise<RouteResult> {
    if (queueStatus !== 'failed') return json(400, { error: `only failed tasks are retried (RetryTasks), not ${queueStatus} ones` });
    let retried = 0;
    let skipped = 0;
    try {
      // RetryTasks stops each call at 10,000 tasks; go on while it says more match and it retried
      // something (tasks failing again meanwhile are not chased for ever).
      for (;;) {
        const o = await this.opts.retrier.retryMatching({ ...EMPTY_FILTER, taskClasses: [queueName], states: ['failed'] });
        retried += o.retried.length;
        skipped += o.errors.length;
        if (!o.more || o.retried.length === 0) break;
      }
    } catch (err) {
      if (err instanceof OrchestratorError && err.code === 'invalid_argument') return json(400, { error: err.message });
      throw err;
    }
    return json(200, { retried, skipped });
  }
}
