/** orchctl queue pause|resume|drain|retry-failed <class>: a class's queue, in one place. */
import type { Command } from 'commander';
import type { CliContext } from './cli-context.js';
import { registerPauseResume } from './class-commands.js';
import { registerDrain, registerRetryFailed } from './task-ops-commands.js';

export function registerQueueCommands(program: Command, ctx: () => CliContext): void {
  const queue = program.command('queue').description("a class's queue: pause, resume, drain, retry-failed");
  registerPauseResume(queue, ctx);
  registerDrain(queue, ctx);
  registerRetryFailed(queue, ctx);
}
