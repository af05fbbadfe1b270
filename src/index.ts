/**
 * Orchestrator's package entry.
 *
 *   import { OrchestratorClient } from 'orchestrator';
 *   const client = new OrchestratorClient('127.0.0.1:50052');
 *   const { taskId } = await client.submitTask({ taskClass: 'cpu_short', payload: { text: 'hi' } });
 *   const result = await client.waitForResult(taskId); // state, resultJson, error, attempt
 *   const { lines } = await client.getTaskLogs(taskId); // what its latest attempt printed
 *
 *   await client.createWorkflow({ name: 'etl', steps: [
 *     { stepId: 'fetch', task: { taskClass: 'cpu_short', payload: { url: '${inputs.url}' } } },
 *     { stepId: 'load', dependsOn: ['fetch'], task: { taskClass: 'cpu_short', payload: { rows: '${steps.fetch.result.rows}' } } },
 *   ] });
 *   const { runId } = await client.startWorkflowRun({ name: 'etl', inputs: { url: 'https://example.org/a.csv' } });
 *   const run = await client.waitForRun(runId); // state, and every step's state and result
 *
 *   await client.createSchedule({ scheduleId: 'nightly', cron: '0 30 2 * * *', tz: 'Europe/Berlin',
 *     task: { taskClass: 'cpu_long', payload: { job: 'report' } } }); // task ids "nightly.<tick ms>"
 *
 * Embedding the server or a pool:
 *
 *   const config = loadConfig();
 *   const orchestrator = new Orchestrator({ config, redisUrl, logger: createLogger('info') });
 *   await orchestrator.start();
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
} from './client/orchestrator-client.js';
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
} from './client/orchestrator-client.js';
export type { TaskFilterInput, TaskSummary, ListTasksResponse, RetryTasksResponse, RetryError } from './client/orchestrator-client.js';
export type { ScheduleInput, Schedule, ScheduleSpec } from './client/orchestrator-client.js';
export { PoolState } from './client/orchestrator-client.js';
export type { Pool, PoolClass, DrainPoolResponse, RunFilterInput, WorkflowRunSummary, ListWorkflowRunsResponse } from './client/orchestrator-client.js';
export { loadConfig, ConfigError } from './config/config.js';
export type { Config, ConfigInput, LoadConfigOptions } from './config/config.js';
export { Orchestrator } from './orchestrator.js';
export type { OrchestratorOptions } from './orchestrator.js';
export { WorkerPool } from '../workers/worker-pool.js';
export type { WorkerPoolOptions } from '../workers/worker-pool.js';
export { createLogger } from './logging/logger.js';
export { OrchestratorError, TaskError } from './tasks/errors.js';
export type { ErrorCode } from './tasks/errors.js';
export { EVENT_TYPES } from './feeds/feed-format.js';
export type { EventType, TaskEventRecord, TaskResultRecord } from './feeds/feed-format.js';
export { DEFAULT_TASK_CLASSES } from '../queues/task-classes.js';
export type { TaskClassOptions } from '../queues/task-classes.js';
export type { Handler, HandlerContext } from '../workers/handlers/handler.js';
export { VERSION } from './version.js';
