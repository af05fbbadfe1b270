/**
 * Bull Board over every class queue, and the schedule ticks' queue, at `basePath`. Two boards
 * share the path: a full one for admins and one built in Bull Board's readOnlyMode for read-only
 * users, chosen per request by role. The read-only board only hides the buttons;
 * DashboardAuth.readOnlyGuard is what refuses the API calls. `readOnlyQueues` are read-only on
 * both boards (Bull Board answers 405 to an action on them): promoting or removing a schedule's
 * next tick by hand would move or stop its schedule behind the schedule API's back.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { RequestHandler } from 'express';
import { roleOf } from './dashboard-auth.js';

export interface QueueBoardOptions {
  queues: Iterable<[name: string, queue: Queue]>;
  /** Shown, never acted on. */
  readOnlyQueues?: Queue[];
  basePath: string;
}

function board(queues: Queue[], shownOnly: Queue[], basePath: string, readOnlyMode: boolean): RequestHandler {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(basePath);
  createBullBoard({
    queues: [
      ...queues.map((q) => new BullMQAdapter(q, { readOnlyMode, allowRetries: !readOnlyMode })),
      ...shownOnly.map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
    ],
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: readOnlyMode ? 'Orchestrator (read-only)' : 'Orchestrator' } },
  });
  return adapter.getRouter() as RequestHandler;
}

/** The Express handler serving both boards; mount it at `basePath` behind DashboardAuth. */
export function queueBoard(opts: QueueBoardOptions): RequestHandler {
  const queues = [...opts.queues].map(([, q]) => q);
  const shownOnly = opts.readOnlyQueues ?? [];
  const admin = board(queues, shownOnly, opts.basePath, false);
  const readOnly = board(queues, shownOnly, opts.basePath, true);
  return (req, res, next) => (roleOf(res) === 'admin' ? admin : readOnly)(req, res, next);
}
