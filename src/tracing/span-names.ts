/**
 * The spans Orchestrator records and their attributes (README "Tracing"). Names are few and
 * fixed, so a tracing backend can group them; what varies (task id, class, attempt) is in
 * attributes.
 *
 *   submit                  front end, one per SubmitTask, one per SubmitTasks batch
 *   └ queue wait            pool, from submission to the first attempt's start (recorded then)
 *   └ attempt               pool, one per attempt
 *     └ execute <kind>      pool, the executor's run: command, container, http, slurm, handler
 *   workflow run            front end, StartWorkflowRun
 *   └ workflow step         front end, as the engine releases a step; its task's spans are its children
 */
export const SPAN = {
  submit: 'submit',
  queueWait: 'queue wait',
  attempt: 'attempt',
  execute: (kind: string) => `execute ${kind}`,
  workflowRun: 'workflow run',
  workflowStep: 'workflow step',
} as const;

/** Attribute keys, under `orchestrator.` but for the semantic conventions' own. */
export const ATTR = {
  taskId: 'orchestrator.task.id',
  taskClass: 'orchestrator.task.class',
  attempt: 'orchestrator.task.attempt',
  /** Whether SubmitTask created the task (false: it existed with the same content). */
  created: 'orchestrator.task.created',
  /** Tasks in a SubmitTasks batch. */
  batchSize: 'orchestrator.batch.size',
  executorKind: 'orchestrator.executor.kind',
  /** succeeded, failed, cancelled, retried, handed_back, lock_lost. */
  outcome: 'orchestrator.attempt.outcome',
  errorCode: 'orchestrator.error.code',
  exitCode: 'process.exit.code',
  poolId: 'orchestrator.pool.id',
  runId: 'orchestrator.workflow.run_id',
  workflowName: 'orchestrator.workflow.name',
  stepId: 'orchestrator.workflow.step_id',
  rpcSystem: 'rpc.system',
  rpcMethod: 'rpc.method',
} as const;
