/**
 * The runner executor: the task handed to a task runner, a service in any language serving
 * orchestrator.runner.v1.TaskRunner (proto/orchestrator/runner/v1/runner.proto), named in the
 * config (executors.runner.runners). workers/executors/runner.ts makes the call.
 */
import { invalidArgument, permissionDenied } from '../errors/errors.js';
import type { ExecutorModule } from './executor-module.js';
import type { RunnerExecutorSpec } from './executor-spec.js';
import { listed, type ExecutorCheckContext } from './spec-checks.js';

/** A task name a runner serves: what a Python or TypeScript function is registered as. */
export const RUNNER_TASK_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$/;
/** A runner's name in executors.runner.runners. */
export const RUNNER_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

function checkRunner(field: string, e: RunnerExecutorSpec, c: ExecutorCheckContext): RunnerExecutorSpec {
  const f = `${field}.runner`;
  const { cls } = c;
  const p = cls.policy.runner;
  const rule = `classes.${cls.name}.policy.runner`;
  if (!RUNNER_TASK_NAME_RE.test(e.task))
    throw invalidArgument(`${f}.task`, `"${e.task.slice(0, 100)}" is not a task name ([A-Za-z0-9_.:/-], at most 128, not starting with one of ".:/-")`);
  if (p.tasks && !p.tasks.includes(e.task))
    throw permissionDenied(`${f}.task`, `"${e.task}" is not allowed for class ${cls.name} (${rule}.tasks: ${listed(p.tasks)})`);
  if (e.runner !== '') {
    if (!RUNNER_NAME_RE.test(e.runner)) throw invalidArgument(`${f}.runner`, `"${e.runner.slice(0, 100)}" is not a runner name`);
    if (!c.policy.runners.has(e.runner))
      throw invalidArgument(`${f}.runner`, `"${e.runner}" is not configured here (executors.runner.runners: ${listed([...c.policy.runners])})`);
    if (!p.runners.includes(e.runner))
      throw permissionDenied(`${f}.runner`, `"${e.runner}" is not allowed for class ${cls.name} (${rule}.runners: ${listed(p.runners)})`);
  } else if (p.runners.length === 0) {
    throw permissionDenied(f, `class ${cls.name} has no task runner (${rule}.runners: none)`);
  }
  return { kind: 'runner', task: e.task, runner: e.runner };
}

export const runnerExecutor = {
  kind: 'runner',
  check: checkRunner,
  fromPb: (v) => ({ kind: 'runner', task: v.task, runner: v.runner }),
  toPb: (e) => ({ task: e.task, runner: e.runner }),
  // Only the payload is templated for runner tasks: the task name and runner are as submitted.
  mapTemplated: (e) => e,
} as const satisfies ExecutorModule<'runner'>;
