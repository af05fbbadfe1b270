/**
 * orchctl results and events. With --follow they keep streaming, and when the connection drops
 * (the orchestrator restarted, the network blinked) they reconnect with backoff and resume
 * after the last cursor they printed, so nothing is missed or repeated.
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import type { Command } from 'commander';
import { TaskState, type TaskEvent, type TaskResult } from '../client/orchestrator-client.js';
import { TaskEvent as TaskEventMessage, TaskResult as TaskResultMessage } from '../gen/orchestrator/v1/orchestrator.js';
import { CliError, EXIT, enumName, type CliContext } from './cli-context.js';
import { failureFacts, printOutputTail } from './failure-output.js';

/** Codes after which a follower reconnects rather than gives up. */
const TRANSIENT = new Set([status.UNAVAILABLE, status.INTERNAL, status.UNKNOWN, status.DEADLINE_EXCEEDED, status.CANCELLED]);

interface FollowOptions<T> {
  open(cursor: string): AsyncIterable<T> & { cancel(): void };
  cursorOf(item: T): string;
  print(item: T): void;
  cursor: string;
  follow: boolean;
  /** Without --follow: stop once nothing arrives for this long. */
  idleMs: number;
}

async function stream<T>(ctx: CliContext, o: FollowOptions<T>): Promise<void> {
  let cursor = o.cursor;
  let backoff = 250;
  for (;;) {
    const s = o.open(cursor);
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      if (o.follow) return;
      clearTimeout(idle);
      idle = setTimeout(() => s.cancel(), o.idleMs);
    };
    try {
      arm();
      for await (const item of s) {
        cursor = o.cursorOf(item) || cursor;
        backoff = 250;
        o.print(item);
        arm();
      }
      return;
    } catch (err) {
      const code = (err as ServiceError).code;
      if (!o.follow || !TRANSIENT.has(code)) {
        if (!o.follow && code === status.CANCELLED) return;
        throw err;
      }
      ctx.note(`connection lost (${(err as ServiceError).details || (err as Error).message}); resuming after ${cursor || 'the start'} in ${backoff} ms`);
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(5_000, backoff * 2);
    } finally {
      clearTimeout(idle);
    }
  }
}

const list = (v: string, prev: string[]) => [...prev, v];

export function registerFeedCommands(program: Command, ctx: () => CliContext): void {
  program
    .command('results')
    .description('final results from the results stream (all retained, or after --cursor); --follow keeps streaming')
    .option('--task <id>', 'only this task (repeatable)', list, [] as string[])
    .option('--workflow <id>', 'only this workflow run')
    .option('--schedule <id>', 'only tasks this schedule fired')
    .option('--class <class>', 'only this class')
    .option('--cursor <cursor>', 'start after this cursor (one printed before, as it was printed; or an entry id)')
    .option('-f, --follow', 'keep streaming; reconnect and resume when the connection drops')
    .option('--idle-ms <ms>', 'without --follow: stop after this long with nothing new', '1000')
    .action(async (f: { task: string[]; workflow?: string; schedule?: string; class?: string; cursor?: string; follow?: boolean; idleMs: string }) => {
      const c = ctx();
      await stream<TaskResult>(c, {
        open: (cursor) =>
          c.client().streamTaskResults({ taskIds: f.task, workflowId: f.workflow ?? '', scheduleId: f.schedule ?? '', taskClass: f.class ?? '', cursor }),
        cursorOf: (r) => r.cursor,
        print: (r) => {
          if (c.json) return c.jsonMessage(TaskResultMessage, r);
          const why = r.failure ? `  (${failureFacts(r.failure)})` : '';
          c.line(
            `${r.cursor}  ${r.taskId}  ${enumName(TaskState, r.state, 'TASK_STATE_')}  attempt ${r.attempt}  ${r.undeliverable ? `undeliverable: ${r.undeliverable}` : r.state === TaskState.TASK_STATE_SUCCEEDED ? r.resultJson : r.error}${why}`,
          );
          // The tail follows one task's result (results --task), not a whole feed's.
          if (f.task.length) printOutputTail(c, r.failure);
        },
        cursor: f.cursor ?? '',
        follow: Boolean(f.follow),
        idleMs: Number(f.idleMs),
      });
    });

  program
    .command('events')
    .description('lifecycle events (all retained, or after --cursor); --follow keeps streaming')
    .option('--type <type>', 'only this event type (repeatable)', list, [] as string[])
    .option('--class <class>', 'only this class (repeatable)', list, [] as string[])
    .option('--task <id>', 'only this task (repeatable)', list, [] as string[])
    .option('--workflow <id>', 'only this workflow run')
    .option('--schedule <id>', 'only tasks this schedule fired')
    .option(
      '--cursor <cursor>',
      'start after this cursor (one printed before, as it was printed; or an entry id; default: all retained; with --follow, the end)',
    )
    .option('--from-start', 'with --follow: print every retained event first, then follow')
    .option('-f, --follow', 'keep streaming, from the end of the feed (new events only); reconnect and resume when the connection drops')
    .option('--idle-ms <ms>', 'without --follow: stop after this long with nothing new', '1000')
    .action(
      async (f: {
        type: string[];
        class: string[];
        task: string[];
        workflow?: string;
        schedule?: string;
        cursor?: string;
        fromStart?: boolean;
        follow?: boolean;
        idleMs: string;
      }) => {
        const c = ctx();
        if (f.fromStart && f.cursor !== undefined) throw new CliError('events: give --cursor or --from-start, not both', EXIT.usage);
        // Following, like `tail -f`, shows what happens from now on: the feed retains up to a
        // million entries (eventsMaxLen), and printing them all first buries the new ones.
        const cursor = f.cursor ?? (f.follow && !f.fromStart ? '$' : '0');
        await stream<TaskEvent>(c, {
          open: (cursor) =>
            c
              .client()
              .streamEvents({ types: f.type, taskClasses: f.class, taskIds: f.task, workflowId: f.workflow ?? '', scheduleId: f.schedule ?? '', cursor }),
          cursorOf: (e) => e.cursor,
          print: (e) =>
            c.json
              ? c.jsonMessage(TaskEventMessage, e)
              : c.line(
                  `${e.cursor}  ${e.type.padEnd(13)}  ${e.stepId ? `${e.workflowId}/${e.stepId}` : e.taskId || e.workflowId}  ${e.state || `attempt ${e.attempt}`}  ${e.undeliverable ? `undeliverable: ${e.undeliverable}` : e.detail}`,
                ),
          cursor,
          follow: Boolean(f.follow),
          idleMs: Number(f.idleMs),
        });
      },
    );
}
