/**
 * Bull Board itself for dashboard/queue-board.ts, which loads this module on the board's first
 * request: a front end whose board is never opened does not load Bull Board.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { RequestHandler } from 'express';
import type { PartitionQueue } from '../src/tasks/task-queues.js';
import { boardQueueName } from './queue-board.js';

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

export function board(queues: PartitionQueue[], shownOnly: Queue[], basePath: string, readOnlyMode: boolean): RequestHandler {
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
