/** orchctl tasks, retry, purge, drain: finding and replaying tasks. */
import type { Command } from 'commander';
import { TaskState, type TaskFilterInput, type TaskSummary } from '../client/orchestrator-client.js';
import { ListTasksResponse, PurgeTasksResponse, RetryTasksResponse } from '../gen/orchestrator/v1/orchestrator.js';
import { CliError, EXIT, enumName, type CliContext } from './cli-context.js';

const stateName = (s: TaskState) => enumName(TaskState, s, 'TASK_STATE_');

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "7d", "12h", "30m", "45s", "500ms" or a plain number of milliseconds. */
export function parseDuration(v: string, flag: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w)?$/.exec(v.trim());
  if (!m) throw new CliError(`${flag}: expected a duration such as 7d, 12h, 30m, 45s or 500ms, got "${v}"`, EXIT.usage);
  return Number(m[1]) * UNITS[m[2] ?? 'ms']!;
}

/** A point in time: an ISO date, ms since the epoch, or a duration meaning that long ago. */
function parseTime(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (/^\d{13,}$/.test(v)) return Number(v);
  if (/^\d+(ms|s|m|h|d|w)?$/.test(v)) return Date.now() - parseDuration(v, flag);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new CliError(`${flag}: expected an ISO time, ms since the epoch or a duration ago (1h), got "${v}"`, EXIT.usage);
  return t;
}

function parseStates(list: string[], flag: string): TaskState[] {
  return list
    .flatMap((s) => s.split(','))
    .filter(Boolean)
    .map((s) => {
      const v = (TaskState as unknown as Record<string, number>)[`TASK_STATE_${s.trim().toUpperCase()}`];
      if (v === undefined || v === TaskState.TASK_STATE_UNSPECIFIED) {
        throw new CliError(`${flag}: unknown state "${s}" (queued, scheduled, running, succeeded, failed, cancelled)`, EXIT.usage);
      }
      return v as TaskState;
    });
}

const list = (v: string, prev: string[]) => [...prev, v];

interface FilterFlags {
  class: string[];
  state: string[];
  workflow?: string;
  since?: string;
  until?: string;
}

function filterOf(f: FilterFlags): TaskFilterInput {
  return {
    taskClasses: f.class.flatMap((c) => c.split(',')).filter(Boolean),
    states: parseStates(f.state, '--state'),
    workflowId: f.workflow,
    submittedSinceMs: parseTime(f.since, '--since'),
    submittedUntilMs: parseTime(f.until, '--until'),
  };
}

function withFilterFlags(cmd: Command): Command {
  return cmd
    .option('-c, --class <class>', 'task class (repeatable, or comma-separated)', list, [] as string[])
    .option('-s, --state <state>', 'queued, scheduled, running, succeeded, failed, cancelled (repeatable)', list, [] as string[])
    .option('--workflow <id>', 'tasks of this workflow (run) id')
    .option('--since <time>', 'submitted at or after: ISO time, ms since the epoch, or a duration ago (e.g. 1h)')
    .option('--until <time>', 'submitted before: ISO time, ms since the epoch, or a duration ago');
}

function row(t: TaskSummary): Record<string, unknown> {
  const iso = (ms: number) => (ms ? new Date(ms).toISOString() : '');
  return {
    task: t.taskId,
    class: t.taskClass,
    state: stateName(t.state),
    attempts: `${t.attemptsMade}/${t.maxAttempts}`,
    submitted: iso(t.submittedAtMs),
    finished: iso(t.finishedAtMs),
    workflow: t.workflowId,
    error: t.error,
  };
}

function printRetry(c: CliContext, r: RetryTasksResponse): void {
  if (r.errors.length) process.exitCode = EXIT.failed;
  if (c.json) return c.jsonMessage(RetryTasksResponse, r);
  c.line(`retried ${r.retried.length} task(s)`);
  for (const e of r.errors) c.line(`${e.taskId}  ${e.code}  ${e.message}`);
}

/**
 * RetryTasks by filter, call after call while the server says more match (it stops each call at
 * 10,000 tasks). Stops when a call retries nothing new: tasks failing again meanwhile are not
 * chased for ever.
 */
async function retryMatching(c: CliContext, filter: TaskFilterInput, deadlineMs: number, attempts?: number): Promise<RetryTasksResponse> {
  const retried = new Set<string>();
  const errors: RetryTasksResponse['errors'] = [];
  for (;;) {
    const r = await c.client().retryTasks({ filter, attempts }, deadlineMs);
    const before = retried.size;
    r.retried.forEach((id) => retried.add(id));
    errors.push(...r.errors);
    if (!r.more || retried.size === before) return { retried: [...retried], errors, more: r.more };
  }
}

export function registerTaskOpsCommands(program: Command, ctx: () => CliContext): void {
  withFilterFlags(
    program
      .command('tasks')
      .description('list tasks newest first (the failed ones are the dead letters); one page unless --all')
      .option('--limit <n>', 'tasks per page (1..1000)', '50')
      .option('--page-token <token>', 'go on from the token a previous page printed')
      .option('--all', 'every matching task, page after page'),
  ).action(async (f: FilterFlags & { limit: string; pageToken?: string; all?: boolean }) => {
    const c = ctx();
    const pageSize = Number(f.limit);
    if (!Number.isInteger(pageSize) || pageSize < 1) throw new CliError(`--limit: expected a positive integer, got "${f.limit}"`, EXIT.usage);
    const filter = filterOf(f);
    const tasks: TaskSummary[] = [];
    let token = f.pageToken ?? '';
    do {
      const page = await c.client().listTasks(filter, { pageSize, pageToken: token });
      tasks.push(...page.tasks);
      token = page.nextPageToken;
    } while (f.all && token);
    if (c.json) return c.jsonMessage(ListTasksResponse, { tasks, nextPageToken: token });
    c.table(tasks.map(row), ['task', 'class', 'state', 'attempts', 'submitted', 'finished', 'workflow', 'error']);
    if (token) c.note(`more: --page-token ${token}`);
  });

  withFilterFlags(
    program
      .command('retry')
      .description('run failed tasks again, their attempts renewed: the named ones, or with --failed every failed task matching the filter')
      .argument('[task_ids...]')
      .option('--failed', 'retry every failed task matching the filter flags (all classes unless --class)')
      .option('--attempts <n>', 'attempts of the new round (1..1000; default: the attempts each task was submitted with)'),
  ).action(async (ids: string[], f: FilterFlags & { failed?: boolean; attempts?: string }) => {
    const c = ctx();
    if (ids.length && f.failed) throw new CliError('retry: give task ids or --failed with filters, not both', EXIT.usage);
    if (!ids.length && !f.failed) throw new CliError('retry: give task ids, or --failed (with --class, --workflow, --since, --until)', EXIT.usage);
    const deadline = Math.max(c.deadlineMs, 120_000);
    const attempts = f.attempts === undefined ? undefined : Number(f.attempts);
    if (attempts !== undefined && !Number.isInteger(attempts)) throw new CliError(`--attempts: expected an integer, got "${f.attempts}"`, EXIT.usage);
    printRetry(c, ids.length ? await c.client().retryTasks({ taskIds: ids, attempts }, deadline) : await retryMatching(c, filterOf(f), deadline, attempts));
  });

  program
    .command('purge')
    .description('remove finished tasks (and their records) that ended at least --older-than ago')
    .requiredOption('--older-than <duration>', 'e.g. 7d, 12h, 30m; 0 for every finished task')
    .option('-c, --class <class>', 'task class (repeatable)', list, [] as string[])
    .option('-s, --state <state>', 'succeeded, failed or cancelled (repeatable; default all three)', list, [] as string[])
    .action(async (f: { olderThan: string; class: string[]; state: string[] }) => {
      const c = ctx();
      const removed = await c.client().purgeTasks(
        {
          olderThanMs: parseDuration(f.olderThan, '--older-than'),
          taskClasses: f.class.flatMap((x) => x.split(',')),
          states: parseStates(f.state, '--state'),
        },
        Math.max(c.deadlineMs, 120_000),
      );
      c.show(PurgeTasksResponse, { removed }, () => ({ removed }));
    });

  registerDrain(program, ctx);
}

/** `drain <class>`, at the top level and under `queue`. */
export function registerDrain(parent: Command, ctx: () => CliContext): void {
  parent
    .command('drain')
    .description('cancel every queued and scheduled task of a class (each ends as cancelled, with its event and result)')
    .argument('<class>')
    .action(async (cls: string) => {
      const c = ctx();
      const client = c.client();
      const ids: string[] = [];
      const filter = { taskClasses: [cls], states: [TaskState.TASK_STATE_QUEUED, TaskState.TASK_STATE_SCHEDULED] };
      for await (const t of client.allTasks(filter)) ids.push(t.taskId);
      let cancelled = 0;
      for (let i = 0; i < ids.length; i += 32) {
        const states = await Promise.all(ids.slice(i, i + 32).map(async (id) => (await client.cancelTask(id, 'drained')).state));
        cancelled += states.filter((s) => s === TaskState.TASK_STATE_CANCELLED).length;
      }
      const startedMeanwhile = ids.length - cancelled;
      if (c.json) return c.jsonLine({ taskClass: cls, cancelled, startedMeanwhile });
      c.record({ class: cls, cancelled, started_meanwhile: startedMeanwhile });
    });
}

/** `queue retry-failed <class>`: RetryTasks with a filter on the class. */
export function registerRetryFailed(parent: Command, ctx: () => CliContext): void {
  parent
    .command('retry-failed')
    .description('run every failed task of a class again, its attempts renewed (retry --failed -c CLASS)')
    .argument('<class>')
    .action(async (cls: string) => {
      const c = ctx();
      printRetry(c, await retryMatching(c, { taskClasses: [cls] }, Math.max(c.deadlineMs, 120_000)));
    });
}
