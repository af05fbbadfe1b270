/**
 * The file BullMQ's child main loads in each sandbox process (or worker thread). It runs one
 * handler call at a time; the parent (sandbox-runner.ts) sends the resolved module path along
 * with the payload, so the child needs no configuration of its own.
 */
import { pathToFileURL } from 'node:url';
import { format } from 'node:util';
import type { Handler } from '../handlers/handler.js';
import { exitWhenParentGoes } from './parent-watch.js';

export interface SandboxJobData {
  module: string;
  payload: Record<string, string>;
  taskId: string;
  taskClass: string;
  attempt: number;
  /** Set in process.env for the call: the child runs one call at a time. */
  env: Record<string, string>;
}

/**
 * What the child sends with BullMQ's Log command (job.log): a line of the task's log. Contract
 * with sandbox-runner.ts, which checks every field (a handler can send anything).
 */
export interface SandboxLogMessage {
  stream: 'stdout' | 'stderr' | 'log';
  text: string;
}

interface SandboxJob {
  data: SandboxJobData;
  updateProgress(value: unknown): Promise<void>;
  log(row: SandboxLogMessage): Promise<void>;
}

/** The call running now; what the child prints meanwhile is its output. */
let current: SandboxJob | undefined;
let forwarding = false;

/**
 * Copies what the child writes to stdout or stderr (console.*, process.stdout.write) into the
 * running call's log, and still passes it on to the pool's own output as before. Sent over the
 * same channel as the call's completion, so every line arrives before the attempt ends; the
 * child's pipes give no such order.
 */
function captureStream(stream: 'stdout' | 'stderr'): void {
  const target = process[stream];
  const original = target.write.bind(target) as (...args: unknown[]) => boolean;
  target.write = ((chunk: unknown, ...rest: unknown[]) => {
    const job = current;
    // Not from inside a send: anything the channel itself prints must not loop back into it.
    if (job && !forwarding && chunk !== undefined && chunk !== null) {
      forwarding = true;
      try {
        const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
        job.log({ stream, text }).catch(() => undefined);
      } catch {
        // The channel to the pool is gone: the pool's own end of this call reports it.
      } finally {
        forwarding = false;
      }
    }
    return original(chunk, ...rest);
  }) as typeof target.write;
}
captureStream('stdout');
captureStream('stderr');

// A child whose pool was killed must not run on (spinning a CPU) with nobody to report to.
exitWhenParentGoes();

/** Handler modules this child has loaded, by path: import() resolves its URL again on every call. */
const loaded = new Map<string, Handler>();

/** Variables the previous call added to process.env (ones the child had before are overwritten, not removed). */
let setByLastCall: string[] = [];

export default async function runHandler(job: SandboxJob, _token: string | undefined, signal: AbortSignal): Promise<unknown> {
  const { module, payload, taskId, taskClass, attempt, env } = job.data;
  let handler = loaded.get(module);
  if (!handler) {
    handler = ((await import(pathToFileURL(module).href)) as { default: Handler }).default;
    loaded.set(module, handler);
  }
  // A cancel that arrived while the module loaded: do not start the handler at all.
  if (signal.aborted) throw new Error(String(signal.reason ?? 'aborted'));
  // The child is reused: take back what the last call set, then set this call's.
  for (const k of setByLastCall) delete process.env[k];
  setByLastCall = Object.keys(env).filter((k) => process.env[k] === undefined);
  Object.assign(process.env, env);
  current = job;
  try {
    return await handler(payload, {
      taskId,
      taskClass,
      attempt,
      env,
      signal,
      progress: (v) => job.updateProgress(v),
      log: (...args: unknown[]) => void job.log({ stream: 'log', text: format(...args) }).catch(() => undefined),
    });
  } finally {
    current = undefined;
  }
}
