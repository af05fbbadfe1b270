/**
 * Orchestrator's root entry, `orchestrator`: the union of the three entries, kept so that
 * `import { OrchestratorClient } from 'orchestrator'` and `import { Orchestrator } from
 * 'orchestrator'` go on working. Importing it loads the whole server (BullMQ, ioredis,
 * dockerode, Express); pick the entry that fits instead:
 *
 *   import { OrchestratorClient } from 'orchestrator/client'; // client and API types only
 *   import { Orchestrator, loadConfig } from 'orchestrator/server'; // embed the orchestrator
 *   import { WorkerPool, type Handler } from 'orchestrator/pool'; // embed a worker pool
 *
 * Usage of each is in its module comment (src/entry/).
 */
export {
  OrchestratorClient,
  toPbTask,
  TaskState,
  ServingStatus,
  BackoffType,
  WorkflowRunState,
  StepState,
  FailurePolicy,
  LogStream,
  PoolState,
  VERSION,
} from './entry/client.js';
export type {
  TaskInput,
  WorkflowInput,
  WorkflowRun,
  StepRun,
  WorkflowStatusUpdate,
  StartWorkflowRunResponse,
  ExecutorInput,
  OrchestratorClientOptions,
  ClientTlsOptions,
  TaskResult,
  TaskEvent,
  TaskStatus,
  TaskFailure,
  HealthResponse,
  SubmitTaskResponse,
  TaskLogs,
  TaskLogLine,
  TaskFilterInput,
  TaskSummary,
  ListTasksResponse,
  RetryTasksResponse,
  RetryError,
  ScheduleInput,
  Schedule,
  ScheduleSpec,
  Pool,
  PoolClass,
  DrainPoolResponse,
  RunFilterInput,
  WorkflowRunSummary,
  ListWorkflowRunsResponse,
} from './entry/client.js';
export { Orchestrator, loadConfig, ConfigError, createLogger, OrchestratorError, TaskError, EVENT_TYPES, DEFAULT_TASK_CLASSES } from './entry/server.js';
export type {
  OrchestratorOptions,
  Config,
  ConfigInput,
  LoadConfigOptions,
  ErrorCode,
  EventType,
  TaskEventRecord,
  TaskResultRecord,
  TaskClassOptions,
} from './entry/server.js';
export { WorkerPool } from './entry/pool.js';
export type { WorkerPoolOptions, Handler, HandlerContext } from './entry/pool.js';
