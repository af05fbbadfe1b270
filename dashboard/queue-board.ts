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
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
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

/** BullMQ's adapter under the board name of its partition (Bull Board keys queues by getName()). */
class PartitionAdapter extends BullMQAdapter {
  constructor(
    queue: Queue,
    options: ConstructorParameters<typeof BullMQAdapter>[1],
    private readonly boardName: string,
  ) {
    super(queue, options);
  }

  override getName(): string {
    return this.boardName;
  }
}

function board(queues: PartitionQueue[], shownOnly: Queue[], basePath: string, readOnlyMode: boolean): RequestHandler {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(basePath);
  createBullBoard({
    queues: [
      ...queues.map((q) =>
        q.partition === 0
          ? new BullMQAdapter(q.queue, { readOnlyMode, allowRetries: !readOnlyMode })
          : new PartitionAdapter(
              q.queue,
              { readOnlyMode, allowRetries: !readOnlyMode, displayName: `${q.taskClass} (partition ${q.partition})` },
              boardQueueName(q.taskClass, q.partition),
            ),
      ),
      ...shownOnly.map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
    ],
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: readOnlyMode ? 'Orchestrator (read-only)' : 'Orchestrator' } },
  });
  return adapter.getRouter() as RequestHandler;
}

/** The Express handler serving both boards; mount it at `basePath` behind DashboardAuth. */
export function queueBoard(opts: QueueBoardOptions): RequestHandler {
  const queues = [...opts.queues];
  const shownOnly = opts.readOnlyQueues ?? [];
  const admin = board(queues, shownOnly, opts.basePath, false);
  const readOnly = board(queues, shownOnly, opts.basePath, true);
  return (req, res, next) => (roleOf(res) === 'admin' ? admin : readOnly)(req, res, next);
}
