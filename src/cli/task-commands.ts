/** orchctl submit, status, cancel. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { TaskState, type TaskInput, type TaskResult } from '../client/orchestrator-client.js';
import {
  CancelTaskResponse,
  SubmitTaskResponse,
  SubmitTasksResponse,
  TaskResult as TaskResultMessage,
  TaskStatus,
} from '../gen/orchestrator/v1/orchestrator.js';
import { CliError, EXIT, enumName, type CliContext } from './cli-context.js';
import { failureFacts, printOutputTail } from './failure-output.js';
import { taskFromFile } from './input-files.js';

const stateName = (s: TaskState) => enumName(TaskState, s, 'TASK_STATE_');

/** "k=v" flags into a payload. */
function pairs(list: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of list) {
    const i = p.indexOf('=');
    if (i <= 0) throw new CliError(`${flag}: expected key=value, got "${p}"`, EXIT.usage);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

function readJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`${what}: not JSON (${(err as Error).message})`, EXIT.usage);
  }
}

function stringMap(v: unknown, what: string): Record<string, string> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new CliError(`${what}: expected a JSON object of strings`, EXIT.usage);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typeof x === 'string' ? x : JSON.stringify(x)]));
}

/** Tasks of a batch file: a JSON array or JSON lines of task objects (README "File formats"). */
function batchFile(file: string): TaskInput[] {
  const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  const trimmed = text.trim();
  const items = trimmed.startsWith('[')
    ? (readJson(trimmed, file) as unknown[])
    : trimmed
        .split('\n')
        .filter((l) => l.trim())
        .map((l, i) => readJson(l, `${file}:${i + 1}`));
  return items.map((item, i) => taskFromFile(item, `${file}: task ${i + 1}`));
}

interface SubmitFlags {
  taskClass?: string;
  payload: string[];
  payloadFile?: string;
  payloadStdin?: boolean;
  id?: string;
  priority?: string;
  attempts?: string;
  timeoutMs?: string;
  delayMs?: string;
  handler?: string;
  command?: string;
  arg: string[];
  runnerTask?: string;
  runner?: string;
  file?: string;
  wait?: boolean;
}

const int = (v: string | undefined, flag: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new CliError(`${flag}: expected an integer, got "${v}"`, EXIT.usage);
  return n;
};

function taskFromFlags(f: SubmitFlags, argv: string[]): TaskInput {
  if (!f.taskClass) throw new CliError('submit: --class is required (or --file for a batch)', EXIT.usage);
  let payload = pairs(f.payload, '--payload');
  if (f.payloadFile) payload = { ...stringMap(readJson(readFileSync(f.payloadFile, 'utf8'), f.payloadFile), f.payloadFile), ...payload };
  if (f.payloadStdin) payload = { ...stringMap(readJson(readFileSync(0, 'utf8'), 'stdin'), 'stdin'), ...payload };
  if ([argv.length > 0, Boolean(f.handler), Boolean(f.command), Boolean(f.runnerTask)].filter(Boolean).length > 1)
    throw new CliError('submit: give one of --handler, --command, --runner-task or a raw command after --', EXIT.usage);
  if (f.arg.length && !f.command) throw new CliError('submit: --arg goes with --command', EXIT.usage);
  if (f.runner && !f.runnerTask) throw new CliError('submit: --runner goes with --runner-task', EXIT.usage);
  return {
    taskClass: f.taskClass,
    payload,
    taskId: f.id,
    priority: int(f.priority, '--priority'),
    maxAttempts: int(f.attempts, '--attempts'),
    timeoutMs: int(f.timeoutMs, '--timeout-ms'),
    delayMs: int(f.delayMs, '--delay-ms'),
    executor: f.command
      ? { command: { name: f.command, args: pairs(f.arg, '--arg') } }
      : argv.length
        ? { command: { argv } }
        : f.runnerTask
          ? { runner: { task: f.runnerTask, runner: f.runner } }
          : f.handler
            ? { handler: f.handler }
            : undefined,
  };
}

function resultRow(r: TaskResult): Record<string, unknown> {
  const row: Record<string, unknown> = {
    task: r.taskId,
    state: stateName(r.state),
    attempt: r.attempt,
    result: r.state === TaskState.TASK_STATE_SUCCEEDED ? r.resultJson : r.error,
  };
  if (r.failure) row.failure = failureFacts(r.failure);
  return row;
}

/** Waits for the results of `ids`, printing each (and live counts on a terminal). */
async function waitAll(ctx: CliContext, ids: string[]): Promise<boolean> {
  let done = 0;
  let failed = 0;
  const tty = process.stderr.isTTY && !ctx.json;
  for await (const r of ctx.client().streamTaskResults({ taskIds: ids, closeWhenDone: true })) {
    done += 1;
    if (r.state !== TaskState.TASK_STATE_SUCCEEDED) failed += 1;
    if (ctx.json) ctx.jsonMessage(TaskResultMessage, r);
    else if (ids.length === 1) {
      ctx.record(resultRow(r));
      printOutputTail(ctx, r.failure);
    } else if (tty) process.stderr.write(`\r${done}/${ids.length} done, ${failed} not succeeded`);
    else if (r.state !== TaskState.TASK_STATE_SUCCEEDED)
      ctx.line(`${r.taskId}  ${stateName(r.state)}  ${r.error}${r.failure ? `  (${failureFacts(r.failure)})` : ''}`);
  }
  if (tty) process.stderr.write('\n');
  if (!ctx.json && ids.length > 1) ctx.line(`${done}/${ids.length} done, ${done - failed} succeeded, ${failed} not`);
  return failed === 0;
}

export function registerTaskCommands(program: Command, ctx: () => CliContext): void {
  program
    .command('submit')
    .description('submit a task (payload from -p k=v, a JSON file or stdin), or a batch with --file; a command goes after --')
    .option('-c, --class <class>', 'task class', undefined)
    .option('-p, --payload <k=v>', 'payload entry (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--payload-file <file>', 'payload as a JSON object')
    .option('--payload-stdin', 'payload as a JSON object on stdin')
    .option('--id <task_id>', 'task id (default: generated)')
    .option('--priority <n>', '0..1000, higher first')
    .option('--attempts <n>', 'attempts in all')
    .option('--timeout-ms <n>', 'per-attempt time limit')
    .option('--delay-ms <n>', 'start no earlier than this')
    .option('--handler <name>', 'handler executor (default echo)')
    .option('--command <name>', "a named command of the pools' config")
    .option('--arg <k=v>', 'a value of the named command (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--runner-task <name>', 'runner executor: the task name a task runner serves')
    .option('--runner <name>', 'with --runner-task: one runner of executors.runner.runners (default: any of the class)')
    .option('--file <file>', 'a batch: JSON array or JSON lines of tasks ("-" for stdin)')
    .option('-w, --wait', 'wait for the results (exit 1 unless all succeed)')
    .argument('[command...]', "a raw command to run (after --), where the class's policy allows raw commands")
    .action(async (argv: string[], f: SubmitFlags & { class?: string }) => {
      const c = ctx();
      f.taskClass = f.class;
      const tasks = f.file ? batchFile(f.file) : [taskFromFlags(f, argv)];
      const res =
        tasks.length === 1 && !f.file ? [await c.client().submitTask(tasks[0]!)] : await c.client().submitTasks(tasks, Math.max(c.deadlineMs, 120_000));
      const rows = res.map((r) => ({ task: r.taskId, created: r.created, state: stateName(r.state) }));
      if (!f.wait && c.json)
        return tasks.length === 1 && !f.file ? c.jsonMessage(SubmitTaskResponse, res[0]!) : c.jsonMessage(SubmitTasksResponse, { results: res });
      if (!f.wait) return rows.length === 1 ? c.record(rows[0]!) : c.table(rows);
      if (!c.json && rows.length > 1) c.line(`submitted ${rows.length} tasks`);
      if (
        !(await waitAll(
          c,
          res.map((r) => r.taskId),
        ))
      )
        process.exitCode = EXIT.failed;
    });

  program
    .command('status')
    .description("a task's state, attempts, result or error, times")
    .argument('<task_id>')
    .action(async (id: string) => {
      const c = ctx();
      const s = await c.client().getTaskStatus(id);
      if (c.json) return c.jsonMessage(TaskStatus, s);
      const iso = (ms: number) => (ms ? new Date(ms).toISOString() : '');
      // attempts: this round's (a retry starts a new one); attempt: the number events carry.
      const failure = s.failure ? { failure: failureFacts(s.failure) } : {};
      c.record({
        task: s.taskId,
        class: s.taskClass,
        state: stateName(s.state),
        attempts: `${s.attemptsMade}/${s.maxAttempts}`,
        attempt: s.attempt,
        result: s.undeliverable ? `(undeliverable: ${s.undeliverable})` : s.resultJson,
        error: s.error,
        ...failure,
        progress: s.progressJson,
        worker: s.workerId,
        workflow: s.workflowId,
        schedule: s.scheduleId,
        priority: s.priority,
        submitted: iso(s.submittedAtMs),
        started: iso(s.startedAtMs),
        finished: iso(s.finishedAtMs),
      });
      if (!c.json) printOutputTail(c, s.failure);
    });

  program
    .command('cancel')
    .description('cancel a queued or running task')
    .argument('<task_id>')
    .option('--reason <text>', 'why', '')
    .action(async (id: string, f: { reason: string }) => {
      const c = ctx();
      const r = await c.client().cancelTask(id, f.reason);
      c.show(CancelTaskResponse, r, () => ({ task: r.taskId, state: stateName(r.state) }));
    });
}
