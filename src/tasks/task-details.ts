/**
 * Everything the dashboard's task page shows of one task: its status (TaskStatusReader), what
 * it runs (the executor spec, payload and timeout from its job's data) and its lifecycle events
 * (TaskEventHistoryReader). Read on demand for one task; nothing here is on the hot path.
 *
 * Job data is whatever is in Redis, not only what SubmitTask wrote: a spec larger than
 * `maxSpecChars` as JSON is left out (and `specOmitted` says so) rather than sent to a browser.
 */
import { Job } from 'bullmq';
import type { TaskEventHistory, TaskEventHistoryReader } from '../feeds/task-event-history.js';
import type { TaskClassOptions } from '../../queues/task-classes.js';
import { jobExecutor } from '../store/codecs/job-data.js';
import type { ExecutorSpec, TaskJobData } from './task-spec.js';
import type { TaskQueues } from './task-queues.js';
import type { TaskStatusReader, TaskStatusView } from './task-status.js';

export interface TaskDetailsOptions {
  queues: TaskQueues;
  status: TaskStatusReader;
  history: TaskEventHistoryReader;
  /** The task classes: a task submitted without a timeout shows its class's. */
  classes: ReadonlyMap<string, TaskClassOptions>;
  /**
   * Most characters of spec JSON handed out. Pass more than the largest payload SubmitTask takes
   * (grpc.maxPayloadBytes) as JSON with its executor spec: the orchestrator passes 4 times it. @default 4 MiB
   */
  maxSpecChars?: number;
}

export interface TaskDetails {
  status: TaskStatusView;
  /** Absent when the job is gone (a task cancelled while queued keeps its job; one removed by hand does not). */
  spec?: { executor: ExecutorSpec; payload: Record<string, string>; timeoutMs: number };
  /** Why `spec` is absent although the job is there ('' otherwise). */
  specOmitted: string;
  history: TaskEventHistory;
}

/** How far past a task's finish time its last events may be stamped (the pool's clock against Redis's). */
const FINISH_MARGIN_MS = 60_000;

export class TaskDetailsReader {
  constructor(private readonly opts: TaskDetailsOptions) {}

  /** not_found (from TaskStatusReader) when the task is unknown or no longer retained. */
  async get(taskId: string): Promise<TaskDetails> {
    const status = await this.opts.status.get(taskId);
    const [job, history] = await Promise.all([
      Job.fromId(this.opts.queues.of(status.taskClass, taskId), taskId) as Promise<Job<TaskJobData> | undefined>,
      this.opts.history.read(taskId, status.taskClass, status.submittedAtMs, status.finishedAtMs > 0 ? status.finishedAtMs + FINISH_MARGIN_MS : 0),
    ]);
    const data = job?.data;
    // A job stores its executor and timeout only where its name and class do not say them
    // (src/store/codecs/job-data.ts); the page shows what the task runs with.
    const spec =
      job && data
        ? {
            executor: jobExecutor(job) as ExecutorSpec,
            payload: data.payload,
            timeoutMs: data.timeoutMs ?? this.opts.classes.get(status.taskClass)?.timeoutMs ?? 0,
          }
        : undefined;
    const max = this.opts.maxSpecChars ?? 4 << 20;
    const chars = spec ? JSON.stringify(spec).length : 0;
    if (chars > max) return { status, spec: undefined, specOmitted: `its spec is ${chars} characters of JSON, over the page's ${max}`, history };
    return { status, spec, specOmitted: '', history };
  }
}
