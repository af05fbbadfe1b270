/**
 * The file BullMQ's child main loads in each sandbox process (or worker thread). It runs one
 * handler call at a time; the parent (sandbox-runner.ts) sends the resolved module path along
 * with the payload, so the child needs no configuration of its own.
 */
import { pathToFileURL } from 'node:url';
import type { Handler } from '../handlers/handler.js';

export interface SandboxJobData {
  module: string;
  payload: Record<string, string>;
  taskId: string;
  taskClass: string;
  attempt: number;
}

interface SandboxJob {
  data: SandboxJobData;
  updateProgress(value: unknown): Promise<void>;
}

export default async function runHandler(job: SandboxJob, _token: string | undefined, signal: AbortSignal): Promise<unknown> {
  const { module, payload, taskId, taskClass, attempt } = job.data;
  const mod = (await import(pathToFileURL(module).href)) as { default: Handler };
  // A cancel that arrived while the module loaded: do not start the handler at all.
  if (signal.aborted) throw new Error(String(signal.reason ?? 'aborted'));
  return mod.default(payload, { taskId, taskClass, attempt, signal, progress: (v) => job.updateProgress(v) });
}
