/**
 * `orchestrator/client`: the TypeScript client and the generated API types, nothing else.
 *
 *   import { OrchestratorClient } from 'orchestrator/client';
 *   const client = new OrchestratorClient('127.0.0.1:50052');
 *   const { taskId } = await client.submitTask({ taskClass: 'cpu_short', payload: { text: 'hi' } });
 *   const result = await client.waitForResult(taskId); // state, resultJson, error, attempt
 *
 * Contract: this module and everything it imports load only @grpc/grpc-js, @bufbuild/protobuf
 * and the generated code. A program that only talks to an orchestrator must not pay for (or
 * carry the attack surface of) BullMQ, ioredis, dockerode, Express or the server's logger;
 * test/package-entries.int.test.ts loads the built entry in a fresh process and fails when one appears.
 * So import nothing here from src/config, src/tasks, src/feeds, workers/ or queues/.
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
} from '../client/orchestrator-client.js';
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
} from '../client/orchestrator-client.js';
export { VERSION } from '../version.js';
