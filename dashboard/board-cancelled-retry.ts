/**
 * A cancelled task stays cancelled, in Bull Board too. BullMQ files a cancelled task's job in
 * the failed set (board-cancelled.ts), so Bull Board offers Retry on it, and its "Retry all" on
 * the failed list retries cancelled jobs with the rest: either would run a task someone decided
 * to stop, behind RetryTasks' back (which refuses a cancelled task). This Express layer over
 * Bull Board's API refuses both with 409 and says why:
 * - `PUT /queues/:queueName/:jobId/retry` when the job is failed and a cancel was requested;
 * - `PUT /queues/:queueName/retry/failed` while any job in that queue's failed list is a
 *   cancelled task (the answer counts them and says how to retry the others).
 * Anything else goes on to Bull Board unchanged, and what a retry does is Bull Board's (and the
 * code renewing its attempts). The routes are Bull Board's own patterns on an Express router,
 * so they match exactly what Bull Board's router matches (case, trailing slash, %-encoding).
 *
 * A task cancelled between this check and Bull Board's retry can still be retried; the window is
 * one Redis round trip of an admin's click.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Queue } from 'bullmq';
import type { TaskQueues } from '../src/tasks/task-queues.js';
import type { TaskStatusReader } from '../src/tasks/task-status.js';

/** Ids read from a failed list per Redis call. */
const PAGE = 1000;

export const CANCELLED_RETRY_TITLE = 'A cancelled task stays cancelled';

function refuse(res: Response, message: string): void {
  // Bull Board's UI shows `error` as the toast's title and `message` under it.
  res.status(409).json({ error: CANCELLED_RETRY_TITLE, message });
}

function queueOf(queues: TaskQueues, name: string): Queue | undefined {
  for (const [n, q] of queues.all()) if (n === name) return q;
  return undefined;
}

async function cancelledInFailedList(queue: Queue, status: Pick<TaskStatusReader, 'cancelledAmong'>): Promise<number> {
  let found = 0;
  for (let start = 0; ; start += PAGE) {
    const ids = await queue.getRanges(['failed'], start, start + PAGE - 1, true);
    found += (await status.cancelledAmong(ids)).length;
    if (ids.length < PAGE) return found;
  }
}

export function boardCancelledRetry(queues: TaskQueues, status: Pick<TaskStatusReader, 'cancelledAmong'>): Router {
  const router = express.Router();
  // Bull Board registers "Retry all" before one job's Retry; so does this router, and a request
  // "Retry all" took goes no further here (next('router')), as it would go no further there.
  router.put('/queues/:queueName/retry/:queueStatus', async (req: Request, res: Response, next: NextFunction) => {
    const queue = queueOf(queues, String(req.params.queueName));
    if (queue && req.params.queueStatus === 'failed') {
      const n = await cancelledInFailedList(queue, status);
      if (n > 0) {
        return refuse(
          res,
          `${n} of the failed jobs in "${queue.name}" are cancelled tasks, which are not run again. ` +
            'Retry the failed ones one by one, or all of them with `orchctl retry --failed --class <class>` (which skips cancelled tasks), or clean the failed list first.',
        );
      }
    }
    next('router');
  });
  router.put('/queues/:queueName/:jobId/retry', async (req: Request, res: Response, next: NextFunction) => {
    const queue = queueOf(queues, String(req.params.queueName));
    const jobId = String(req.params.jobId);
    if (queue && (await status.cancelledAmong([jobId])).length > 0 && (await queue.getJobState(jobId)) === 'failed') {
      return refuse(res, `task "${jobId}" was cancelled and is not run again (submit it anew to run it).`);
    }
    next();
  });
  return router;
}
