/**
 * Bull Board over every class queue, and the schedule ticks' queue, at `basePath`. Two boards
 * share the path: a full one for admins and one built in Bull Board's readOnlyMode for read-only
 * users, chosen per request by role. The read-only board only hides the buttons;
 * DashboardAuth.readOnlyGuard is what refuses the API calls. `readOnlyQueues` are read-only on
 * both boards (Bull Board answers 405 to an action on them): promoting or removing a schedule's
 * next tick by hand would move or stop its schedule behind the schedule API's back.
 *
 * A partitioned class (`classes.<name>.partitions` on a Redis Cluster) has one queue per
 * partition, all named after the class: the board lists partition p > 0 as `<class>.<p>` (the
 * name its feed streams have), so each is a queue of its own there, and partition 0 as the class.
 *
 * Bull Board is loaded on the board's first request (dashboard/queue-board-ui.ts).
 */
import type { Queue } from 'bullmq';
import type { PartitionQueue } from '../src/tasks/task-queues.js';
import type { RequestHandler } from 'express';
import { roleOf } from './dashboard-auth.js';

export interface QueueBoardOptions {
  queues: Iterable<PartitionQueue>;
  /** Shown, never acted on. */
  readOnlyQueues?: Queue[];
  basePath: string;
}

/** The board's name of a class's partition: the class for partition 0, `<class>.<p>` above. */
export function boardQueueName(taskClass: string, partition: number): string {
  return partition > 0 ? `${taskClass}.${partition}` : taskClass;
}

/** The class a board queue name (boardQueueName) is a partition of. */
export function classOfBoardName(name: string): string {
  return /^[a-z0-9_]+\.\d{1,2}$/.test(name) ? name.slice(0, name.lastIndexOf('.')) : name;
}

/** The Express handler serving both boards; mount it at `basePath` behind DashboardAuth. */
export function queueBoard(opts: QueueBoardOptions): RequestHandler {
  const queues = [...opts.queues];
  const shownOnly = opts.readOnlyQueues ?? [];
  let boards: Promise<{ admin: RequestHandler; readOnly: RequestHandler }> | undefined;
  const load = () =>
    import('./queue-board-ui.js').then(({ board }) => ({
      admin: board(queues, shownOnly, opts.basePath, false),
      readOnly: board(queues, shownOnly, opts.basePath, true),
    }));
  return (req, res, next) => {
    boards ??= load().catch((err: unknown) => {
      // Tried again by the next request.
      boards = undefined;
      throw err;
    });
    boards.then((b) => (roleOf(res) === 'admin' ? b.admin : b.readOnly)(req, res, next), next);
  };
}
