/**
 * How orchctl shows a task's failure (status, results, submit --wait): the task's own error,
 * exit code, signal, whether a retry could help and its output tail. In text, the output tail
 * follows indented, so it reads as the task's (JSON output is the message itself: json-output.ts).
 */
import type { TaskFailure } from '../client/orchestrator-client.js';
import type { CliContext } from './cli-context.js';

/** One line of facts: "task_failed, exit code 2, retryable". */
export function failureFacts(f: TaskFailure): string {
  const facts = [f.kind];
  if (f.exitCode !== undefined) facts.push(`exit code ${f.exitCode}`);
  if (f.signal) facts.push(`signal ${f.signal}`);
  facts.push(f.retryable ? 'retryable' : 'not retryable');
  return facts.join(', ');
}

/**
 * Control characters (escape sequences included) shown as "?": the output is the task's, and a
 * task must not be able to drive the operator's terminal.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** Prints the output tail, indented, under a heading (text output only). */
export function printOutputTail(c: CliContext, f: TaskFailure | undefined, indent = '  '): void {
  if (!f?.outputTail) return;
  c.line('output tail:');
  for (const l of f.outputTail.replace(/\n$/, '').split('\n')) c.line(`${indent}${l.replace(CONTROL, '?')}`);
}
