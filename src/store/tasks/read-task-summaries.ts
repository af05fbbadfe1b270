import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { storeScript } from '../store-script.js';

/** Which of its queue's places a job is in. */
export type JobPlace = 'completed' | 'failed' | 'delayed' | 'active' | 'waiting';

/** The sets of a class's BullMQ queue the summary looks a job up in (the Queue's `keys`). */
export interface FinishedAndDelayedSets {
  completed: string;
  failed: string;
  delayed: string;
}

/** What ListTasks shows of a task's job. */
export interface JobSummary {
  place: JobPlace;
  /** 0 when it never started. */
  processedOnMs: number;
  /** 0 when it has not finished. */
  finishedOnMs: number;
  /** BullMQ's attempts made (this round's: a RetryTasks starts a new round). */
  attemptsMade: number;
  failedReason: string;
  /** The job options' attempts; undefined when they name none. */
  attemptsAllowed: number | undefined;
  /** BullMQ's priority (0: none). */
  bullPriority: number;
  /** The worker that took it last, or "". */
  processedBy: string;
  workflowId: string;
  /** Attempts before the last manual retry. */
  attemptsBefore: number;
}

/** Values per task in the script's reply (the script writes the same width). */
export const SUMMARY_FIELDS = 12;

const PLACES: Record<string, JobPlace> = { c: 'completed', f: 'failed', d: 'delayed', a: 'active', w: 'waiting' };

type Command = (completed: string, failed: string, delayed: string, jobPrefix: string, ids: readonly string[]) => Promise<string[]>;

const num = (v: string | undefined) => Number(v || 0);

/**
 * lua/tasks/read-task-summaries.lua: the job summaries of tasks of one class (partition `part` of it), in the order of
 * `taskIds`; undefined for a task whose job is gone.
 */
export function readTaskSummaries(
  redis: RedisClient,
  keys: Keys,
): (taskClass: string, part: number, sets: FinishedAndDelayedSets, taskIds: readonly string[]) => Promise<(JobSummary | undefined)[]> {
  const run = storeScript<Command>(redis, 'tasks/read-task-summaries', { numberOfKeys: 3 });
  return async (taskClass, part, sets, taskIds) => {
    const flat = await run(sets.completed, sets.failed, sets.delayed, keys.jobPrefix(taskClass, part), taskIds);
    return taskIds.map((_, j) => {
      const [found, code, , processedOn, finishedOn, atm, failedReason, attempts, priority, processedBy, workflowId, before] = flat.slice(
        j * SUMMARY_FIELDS,
        (j + 1) * SUMMARY_FIELDS,
      );
      if (found !== '1') return undefined;
      return {
        place: PLACES[code!]!,
        processedOnMs: num(processedOn),
        finishedOnMs: num(finishedOn),
        attemptsMade: num(atm),
        failedReason: failedReason ?? '',
        attemptsAllowed: attempts ? Number(attempts) : undefined,
        bullPriority: num(priority),
        processedBy: processedBy ?? '',
        workflowId: workflowId ?? '',
        attemptsBefore: num(before),
      };
    });
  };
}
