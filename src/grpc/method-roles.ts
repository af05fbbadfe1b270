/**
 * The one table of who may call what: every gRPC method of the orchestrator and the env-manager
 * with the lowest token role that may call it (src/auth/roles.ts: a role holds the rights of
 * the roles below it). The README's "Roles" table is this table. The `satisfies` clauses make a
 * new RPC without an entry a compile error, and the auth interceptor refuses any path missing
 * here, so nothing becomes callable by accident.
 */
import type { EnvManagerRole, GrpcRole } from '../auth/roles.js';
import { EnvManagerServiceService, type EnvManagerServiceServer } from '../gen/envmanager/v1/envmanager.js';
import { OrchestratorServiceService, type OrchestratorServiceServer } from '../gen/orchestrator/v1/orchestrator.js';

/** orchestrator.v1.OrchestratorService: method -> lowest role. */
export const ORCHESTRATOR_METHOD_ROLES = {
  // read: status, lists, streams, figures.
  health: 'read',
  getMetrics: 'read',
  getTaskStatus: 'read',
  streamTaskResults: 'read',
  streamEvents: 'read',
  getWorkflowRun: 'read',
  streamWorkflowStatus: 'read',
  getClassLimits: 'read',
  listTasks: 'read',
  getSchedule: 'read',
  listSchedules: 'read',
  getTaskLogs: 'read',
  streamTaskLogs: 'read',
  listPools: 'read',
  listWorkflowRuns: 'read',
  // submit: put work in and take it back.
  submitTask: 'submit',
  submitTasks: 'submit',
  submitTaskStream: 'submit',
  cancelTask: 'submit',
  startWorkflowRun: 'submit',
  cancelWorkflowRun: 'submit',
  // operate: change how the system runs, what it keeps and what runs on its own.
  createWorkflow: 'operate',
  setClassLimits: 'operate',
  pauseClass: 'operate',
  resumeClass: 'operate',
  retryTasks: 'operate',
  purgeTasks: 'operate',
  createSchedule: 'operate',
  updateSchedule: 'operate',
  deleteSchedule: 'operate',
  drainPool: 'operate',
  resumePool: 'operate',
} as const satisfies Record<keyof OrchestratorServiceServer, GrpcRole>;

/** envmanager.v1.EnvManagerService: method -> lowest role. */
export const ENV_MANAGER_METHOD_ROLES = {
  listServices: 'read',
  getServiceStatus: 'read',
  getServiceLogs: 'read',
  streamServiceEvents: 'read',
  health: 'read',
  startServices: 'control',
  stopServices: 'control',
  restartService: 'control',
} as const satisfies Record<keyof EnvManagerServiceServer, EnvManagerRole>;

/**
 * Server reflection (both versions @grpc/reflection serves) describes the API, nothing more:
 * the lowest role. grpc.health.v1.Health is open to all, before any token check.
 */
const REFLECTION_PATHS = ['/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo'];

function byPath<K extends string, R extends string>(definition: Record<K, { path: string }>, table: Record<K, R>, lowest: R): ReadonlyMap<string, R> {
  const map = new Map<string, R>((Object.keys(table) as K[]).map((method) => [definition[method].path, table[method]]));
  for (const p of REFLECTION_PATHS) map.set(p, lowest);
  return map;
}

/** Full method path ("/orchestrator.v1.OrchestratorService/SubmitTask") -> lowest role. */
export const ORCHESTRATOR_PATH_ROLES: ReadonlyMap<string, GrpcRole> = byPath(OrchestratorServiceService, ORCHESTRATOR_METHOD_ROLES, 'read');
export const ENV_MANAGER_PATH_ROLES: ReadonlyMap<string, EnvManagerRole> = byPath(EnvManagerServiceService, ENV_MANAGER_METHOD_ROLES, 'read');
