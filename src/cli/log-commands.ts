/** orchctl logs: a task's captured output (GetTaskLogs, StreamTaskLogs). */
import type { Command } from 'commander';
import { LogStream, TaskLogLine, TaskLogs } from '../gen/orchestrator/v1/orchestrator.js';
import { CliError, EXIT, enumName, type CliContext } from './cli-context.js';

const streamName = (s: LogStream) => enumName(LogStream, s, 'LOG_STREAM_');

/** "2026-12-06T01:50:00.123Z #2 stderr boom": time, attempt and stream first, so grep and cut work. */
function lineText(l: TaskLogLine): string {
  const at = l.atMs ? new Date(l.atMs).toISOString() : '-'.padEnd(24);
  return `${at} #${l.attempt} ${streamName(l.stream).padEnd(6)} ${l.text}`;
}

export function registerLogCommands(program: Command, ctx: () => CliContext): void {
  program
    .command('logs')
    .description("a task's captured output (stdout, stderr, ctx.log) by attempt; -f follows it until the task ends")
    .argument('<task_id>')
    .option('-f, --follow', 'print new lines as they are written, until the task ends')
    .option('--attempt <n>', 'this attempt only (default: the latest; with -f, the latest and later ones)')
    .option('--all', 'every attempt, in order')
    .action(async (id: string, f: { follow?: boolean; attempt?: string; all?: boolean }) => {
      const c = ctx();
      const attempt = f.attempt === undefined ? 0 : Number(f.attempt);
      if (f.attempt !== undefined && (!Number.isInteger(attempt) || attempt < 1))
        throw new CliError(`--attempt: expected an attempt number (1, 2, ...), got "${f.attempt}"`, EXIT.usage);
      if (f.all && (f.follow || f.attempt !== undefined)) throw new CliError('--all goes without --follow and --attempt', EXIT.usage);
      if (f.follow) {
        for await (const l of c.client().streamTaskLogs(id, attempt)) {
          if (c.json) c.jsonMessage(TaskLogLine, l);
          else c.line(lineText(l));
        }
        return;
      }
      const logs = await c.client().getTaskLogs(id, { attempt, allAttempts: f.all });
      if (c.json) return c.jsonMessage(TaskLogs, logs);
      for (const l of logs.lines) c.line(lineText(l));
      if (logs.lines.length === 0) {
        const other = logs.attempts.length ? ` (attempts with lines: ${logs.attempts.join(', ')})` : '';
        c.note(`no lines for ${logs.attempt ? `attempt ${logs.attempt}` : 'this task'}${other}`);
      } else if (logs.truncated) c.note('(truncated: some lines were dropped; a "system" line says how many)');
    });
}
