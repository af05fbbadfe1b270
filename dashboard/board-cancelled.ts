/**
 * Cancelled tasks in Bull Board. BullMQ has no cancelled state: a cancelled task's job is in the
 * failed set, with failedReason "cancelled: <reason>" (both cancel paths write it: the cancel
 * script for a queued task, the pool for a running one). A running task's cancel also leaves the
 * stack of the pool's own code that threw it (`UnrecoverableError: cancelled: ... at
 * TaskWorker.processFn ...`), which Bull Board shows as the job's error and which says nothing
 * about the task. This Express layer over Bull Board's JSON API shows the reason alone as a
 * cancelled job's error instead, and leaves every other job as it is. The job itself in Redis is
 * not changed.
 */
import type { NextFunction, Request, Response } from 'express';

const CANCELLED = 'cancelled: ';

interface BoardJob {
  failedReason?: unknown;
  stacktrace?: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function showCancel(j: unknown): unknown {
  if (!isObject(j)) return j;
  const { failedReason } = j as BoardJob;
  return typeof failedReason === 'string' && failedReason.startsWith(CANCELLED) ? { ...j, stacktrace: [failedReason] } : j;
}

/** Jobs in Bull Board's answers: the queue list (`queues[].jobs[]`) and one job (`job`). */
function showCancels(body: unknown): unknown {
  if (!isObject(body)) return body;
  const out: Record<string, unknown> = { ...body };
  if (Array.isArray(body.queues)) {
    out.queues = body.queues.map((q: unknown) => (isObject(q) && Array.isArray(q.jobs) ? { ...q, jobs: q.jobs.map(showCancel) } : q));
  }
  if (isObject(body.job)) out.job = showCancel(body.job);
  return out;
}

/** Express middleware over Bull Board's /api (see the module comment). */
export function boardCancelled(_req: Request, res: Response, next: NextFunction): void {
  const json = res.json.bind(res);
  res.json = (body: unknown) => json(showCancels(body));
  next();
}
