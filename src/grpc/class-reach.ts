/**
 * Which task classes an orchestrator call reaches, for tokens limited to some classes
 * (grpc.auth tokens with `classes`). The auth interceptor asks this before the handler runs and
 * refuses the call unless every class reached is one the token may act on; tokens without
 * `classes` never get here. One entry per RPC (a new RPC without one does not compile):
 *
 * - a call that names its classes (SubmitTask, class limits, a filter's task_classes) reaches
 *   those;
 * - a call that names a task, run, workflow or schedule reaches its classes, looked up; an id
 *   that does not exist reaches nothing, so the handler answers NOT_FOUND as for anyone;
 * - a stream that follows task ids, a run or a schedule not yet known is refused: it could see
 *   a task of another class submitted later under that id (name task_class as well);
 * - a call that filters nothing (GetMetrics, ListSchedules, an unfiltered list, stream, retry
 *   or purge) reaches every class it covers: every configured class, or every schedule's.
 */
import { OrchestratorServiceService } from '../gen/orchestrator/v1/orchestrator.js';
import type * as pb from '../gen/orchestrator/v1/orchestrator.js';
import { OrchestratorError } from '../errors/errors.js';

/** The classes a call reaches, or why it cannot be limited to classes. */
export type ClassReach = readonly string[] | { unbounded: string };

/** Lookups of the classes behind ids; each undefined when the id is unknown. */
export interface ClassLookups {
  /** Every configured task class. */
  allClasses: readonly string[];
  taskClass(taskId: string): Promise<string | undefined>;
  /** The classes of a workflow run's steps. */
  runClasses(runId: string): Promise<readonly string[] | undefined>;
  /** The classes of a workflow version's steps (0: the latest). */
  workflowClasses(name: string, version: number): Promise<readonly string[] | undefined>;
  scheduleClass(scheduleId: string): Promise<string | undefined>;
  /** The classes of every schedule. */
  scheduleClasses(): Promise<readonly string[]>;
}

/** undefined instead of a not_found error: an unknown id reaches nothing. */
export async function unlessNotFound<T>(lookup: Promise<T>): Promise<T | undefined> {
  try {
    return await lookup;
  } catch (err) {
    if (err instanceof OrchestratorError && err.code === 'not_found') return undefined;
    throw err;
  }
}

type Reach<Req> = (req: Req, l: ClassLookups) => Promise<ClassReach>;

const nothing = async (): Promise<ClassReach> => [];
const everyClass = async (_req: unknown, l: ClassLookups): Promise<ClassReach> => l.allClasses;
const named = (classes: readonly string[], l: ClassLookups): ClassReach => (classes.length ? classes : l.allClasses);

async function ofTasks(ids: readonly string[], l: ClassLookups, unknown: 'skip' | 'refuse'): Promise<ClassReach> {
  const out: string[] = [];
  for (const id of ids) {
    const c = await l.taskClass(id);
    if (c !== undefined) out.push(c);
    else if (unknown === 'refuse') return { unbounded: `task "${id}" is not known yet; name task_class as well` };
  }
  return out;
}

/** StreamEvents / StreamTaskResults: the narrowest of their filters (they all must match). */
async function ofFeedFilter(
  f: { taskClasses: readonly string[]; taskIds: readonly string[]; workflowId: string; scheduleId: string },
  l: ClassLookups,
): Promise<ClassReach> {
  if (f.taskClasses.length) return f.taskClasses;
  if (f.taskIds.length) return ofTasks(f.taskIds, l, 'refuse');
  if (f.workflowId)
    return (await l.runClasses(f.workflowId)) ?? { unbounded: `workflow run "${f.workflowId}" is not known yet; name the task classes as well` };
  if (f.scheduleId) {
    const c = await l.scheduleClass(f.scheduleId);
    return c === undefined ? { unbounded: `schedule "${f.scheduleId}" is not known; name the task classes as well` } : [c];
  }
  return l.allClasses;
}

const REACH = {
  health: nothing,
  getMetrics: everyClass,
  submitTask: async (r: pb.SubmitTaskRequest) => [r.task?.taskClass ?? ''],
  submitTasks: async (r: pb.SubmitTasksRequest) => r.tasks.map((t) => t.taskClass),
  // Each request of the stream on its own, as it arrives: a task of another class ends the call.
  submitTaskStream: async (r: pb.SubmitTaskStreamRequest) => [r.task?.taskClass ?? ''],
  getTaskStatus: (r: pb.GetTaskStatusRequest, l) => ofTasks([r.taskId], l, 'skip'),
  cancelTask: (r: pb.CancelTaskRequest, l) => ofTasks([r.taskId], l, 'skip'),
  streamTaskResults: (r: pb.StreamTaskResultsRequest, l) => ofFeedFilter({ ...r, taskClasses: r.taskClass ? [r.taskClass] : [] }, l),
  streamEvents: (r: pb.StreamEventsRequest, l) => ofFeedFilter(r, l),
  createWorkflow: async (r: pb.CreateWorkflowRequest) => r.steps.map((s) => s.task?.taskClass ?? ''),
  startWorkflowRun: async (r: pb.StartWorkflowRunRequest, l) => (await l.workflowClasses(r.name, r.version)) ?? [],
  getWorkflowRun: async (r: pb.GetWorkflowRunRequest, l) => (await l.runClasses(r.runId)) ?? [],
  cancelWorkflowRun: async (r: pb.CancelWorkflowRunRequest, l) => (await l.runClasses(r.runId)) ?? [],
  streamWorkflowStatus: async (r: pb.StreamWorkflowStatusRequest, l) => (await l.runClasses(r.runId)) ?? [],
  getClassLimits: async (r: pb.GetClassLimitsRequest) => [r.taskClass],
  setClassLimits: async (r: pb.SetClassLimitsRequest) => [r.taskClass],
  pauseClass: async (r: pb.PauseClassRequest) => [r.taskClass],
  resumeClass: async (r: pb.ResumeClassRequest) => [r.taskClass],
  listTasks: async (r: pb.ListTasksRequest, l) => named(r.filter?.taskClasses ?? [], l),
  retryTasks: async (r: pb.RetryTasksRequest, l) => (r.taskIds.length ? ofTasks(r.taskIds, l, 'skip') : named(r.filter?.taskClasses ?? [], l)),
  purgeTasks: async (r: pb.PurgeTasksRequest, l) => named(r.taskClasses, l),
  // The task must exist when the call starts (NOT_FOUND otherwise), and its id keeps its class while it does.
  getTaskLogs: (r: pb.GetTaskLogsRequest, l) => ofTasks([r.taskId], l, 'skip'),
  streamTaskLogs: (r: pb.StreamTaskLogsRequest, l) => ofTasks([r.taskId], l, 'skip'),
  createSchedule: async (r: pb.CreateScheduleRequest) => [r.schedule?.task?.taskClass ?? ''],
  // The schedule's class before and after: moving a schedule out of (or into) a class is acting on both.
  updateSchedule: async (r: pb.UpdateScheduleRequest, l) => {
    const before = r.schedule?.scheduleId ? await l.scheduleClass(r.schedule.scheduleId) : undefined;
    return [r.schedule?.task?.taskClass ?? '', ...(before === undefined ? [] : [before])];
  },
  getSchedule: async (r: pb.GetScheduleRequest, l) => [(await l.scheduleClass(r.scheduleId)) ?? []].flat(),
  deleteSchedule: async (r: pb.DeleteScheduleRequest, l) => [(await l.scheduleClass(r.scheduleId)) ?? []].flat(),
  listSchedules: async (_r: pb.ListSchedulesRequest, l) => l.scheduleClasses(),
  // Pools and runs span classes: a pool serves several, a list of runs names no class.
  listPools: everyClass,
  drainPool: everyClass,
  resumePool: everyClass,
  listWorkflowRuns: everyClass,
} satisfies { [K in keyof pb.OrchestratorServiceServer]: Reach<never> };

const BY_PATH = new Map(
  (Object.keys(REACH) as (keyof typeof REACH)[]).map((method) => [OrchestratorServiceService[method].path as string, REACH[method] as Reach<unknown>]),
);

/**
 * The classes a call to `path` with this request reaches. A path without an entry (reflection)
 * reaches no class.
 */
export function orchestratorClassReach(lookups: ClassLookups): (path: string, request: unknown) => Promise<ClassReach> {
  return async (path, request) => (await BY_PATH.get(path)?.(request, lookups)) ?? [];
}
