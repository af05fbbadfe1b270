/**
 * Runs handler calls in BullMQ's sandbox children (ChildPool: forked processes or worker
 * threads), one call per child at a time, children reused.
 *
 * Why not the Worker's built-in sandbox (a processor file): it only forwards a Cancel message,
 * so a handler that ignores its AbortSignal (a tight loop, a blocking call) keeps running after
 * a timeout or CancelTask. Here the child gets `killGraceMs` to stop after the signal aborts and
 * is then killed. A per-task runner also lets one BullMQ Worker mix sandboxed handler tasks
 * with command tasks that need no sandbox around their wait.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChildCommand, ParentCommand, createChildPool, type Child, type ChildPool } from '../../src/store/bullmq/sandbox-children.js';
import { TaskError } from '../../src/errors/errors.js';
import type { SandboxJobData, SandboxLogMessage } from './handler-process.js';
import type { AttemptOutput } from '../executors/executor.js';

const PROCESS_FILE = join(dirname(fileURLToPath(import.meta.url)), 'handler-process.js');

export interface SandboxRunnerOptions {
  /** Worker threads instead of child processes. @default false */
  useWorkerThreads?: boolean;
  /** Time a handler gets to stop after its signal aborts before its child is killed. @default 1000 */
  killGraceMs?: number;
}

export interface SandboxCall {
  data: SandboxJobData;
  signal: AbortSignal;
  progress(value: unknown): Promise<void>;
  /** The attempt's log: the handler's ctx.log and console output. */
  output?: AttemptOutput;
}

const LOG_STREAMS: ReadonlySet<unknown> = new Set(['stdout', 'stderr', 'log']);

/** A Log message of the child as a line, or undefined when it is not one (the handler can send anything). */
function logMessage(value: unknown): SandboxLogMessage | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { stream, text } = value as Record<string, unknown>;
  return LOG_STREAMS.has(stream) && typeof text === 'string' ? { stream: stream as SandboxLogMessage['stream'], text } : undefined;
}

interface ChildMessage {
  cmd: ParentCommand;
  value?: unknown;
  err?: unknown;
}

export class SandboxRunner {
  private readonly pool: ChildPool;
  private readonly killGraceMs: number;

  constructor(opts: SandboxRunnerOptions = {}) {
    const useWorkerThreads = opts.useWorkerThreads ?? false;
    this.pool = createChildPool(useWorkerThreads);
    this.killGraceMs = opts.killGraceMs ?? 1_000;
  }

  async run(call: SandboxCall): Promise<unknown> {
    const { signal } = call;
    if (signal.aborted) throw signal.reason;
    const child: Child = await this.pool.retain(PROCESS_FILE);
    let killTimer: NodeJS.Timeout | undefined;
    let onMessage: ((msg: ChildMessage) => void) | undefined;
    let onExit: ((code: number | null, sig: string | null) => void) | undefined;
    let onAbort: (() => void) | undefined;
    let killed = false;
    try {
      return await new Promise<unknown>((resolve, reject) => {
        onExit = (code, sig) => {
          if (killed) reject(signal.reason);
          else reject(new TaskError('task_failed', `handler process exited unexpectedly (code ${code}, signal ${sig})`, { retryable: true }));
        };
        onMessage = (msg) => {
          switch (msg.cmd) {
            case ParentCommand.Completed:
              resolve(msg.value);
              break;
            case ParentCommand.Failed:
            case ParentCommand.Error:
              reject(Object.assign(new Error(), msg.value ?? msg.err));
              break;
            case ParentCommand.Progress:
              call.progress(msg.value).catch(() => undefined);
              break;
            case ParentCommand.Log: {
              const m = logMessage(msg.value);
              if (m && call.output) {
                if (m.stream === 'log') call.output.line('log', m.text);
                else call.output.write(m.stream, m.text);
              }
              break;
            }
          }
        };
        onAbort = () => {
          child.send({ cmd: ChildCommand.Cancel, value: String((signal.reason as Error)?.message ?? signal.reason) }).catch(() => undefined);
          killTimer = setTimeout(() => {
            killed = true;
            this.pool.kill(child, 'SIGKILL').catch(() => undefined);
          }, this.killGraceMs);
        };
        child.on('exit', onExit);
        child.on('message', onMessage);
        if (!signal.aborted) signal.addEventListener('abort', onAbort, { once: true });
        const job = { id: call.data.taskId, name: 'handler', data: JSON.stringify(call.data), opts: {}, attemptsMade: call.data.attempt - 1 };
        child.send({ cmd: ChildCommand.Start, job }).catch(reject);
        // The signal may have fired while a child was being forked: stop what just started.
        if (signal.aborted) onAbort();
      });
    } finally {
      clearTimeout(killTimer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
      if (onMessage) child.off('message', onMessage);
      if (onExit) child.off('exit', onExit);
      if (!killed && child.exitCode === null && child.signalCode === null) this.pool.release(child);
    }
  }

  async close(): Promise<void> {
    await this.pool.clean();
  }
}
