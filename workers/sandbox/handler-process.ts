/**
 * The file BullMQ's child main loads in each sandbox process (or worker thread). It runs one
 * handler call at a time; the parent (sandbox-runner.ts) sends the resolved module path along
 * with the payload, so the child needs no configuration of its own.
 */
import { pathToFileURL } from 'node:url';
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

interface SandboxJob {
  data: SandboxJobData;
  updateProgress(value: unknown): Promise<void>;
}

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
  return handler(payload, { taskId, taskClass, attempt, env, signal, progress: (v) => job.updateProgress(v) });
}
