/**
 * `orchestrator/runner`: serve TypeScript functions as tasks over the task runner protocol
 * (orchestrator.runner.v1.TaskRunner), for pools whose classes use the `runner` executor
 * (README "Task runners"). Loads no server, pool or Redis code.
 *
 *   import { TaskRunner } from 'orchestrator/runner';
 *   const runner = new TaskRunner({ maxConcurrency: 4 });
 *   runner.task('resize', async (payload, ctx) => { ctx.progress(50); return { ok: true }; });
 *   await runner.listen('127.0.0.1:8083');
 */
export { TaskRunner, TaskFailure, RunnerAbort } from '../runner/task-runner.js';
export type { TaskRunnerOptions, RunnerTaskContext, RunnerTaskFn } from '../runner/task-runner.js';
