/**
 * The workflow model: a named DAG of steps, each a task spec plus the steps it depends on.
 * Validation happens before anything is stored and names the step and field at fault; a
 * definition that passes is turned into a plan (dependents, roots, ancestry) used by runs.
 */
import type { TaskClassOptions } from '../../queues/task-classes.js';
import { mapTemplatedExecutor } from '../executors/registry.js';
import { invalidArgument } from '../errors/errors.js';
import type { ExecutorPolicy } from '../executors/executor-policy.js';
import { resolveTask, type TaskSubmission } from '../tasks/task-spec.js';
import { TemplateError, templateRefs } from './templates.js';

export type FailurePolicy = 'fail_fast' | 'continue';

export interface WorkflowStepInput {
  stepId: string;
  /** task_id and workflow_id stay unset: the run sets them. */
  task: TaskSubmission;
  dependsOn: string[];
}

export interface WorkflowInput {
  name: string;
  steps: WorkflowStepInput[];
  /** @default "fail_fast" */
  failurePolicy?: FailurePolicy;
  description?: string;
}

/** A stored, immutable version of a workflow. */
export interface WorkflowDefinition {
  name: string;
  version: number;
  failurePolicy: FailurePolicy;
  description: string;
  createdAtMs: number;
  steps: WorkflowStepInput[];
}

export const WORKFLOW_NAME_RE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
/** Step and run ids exclude ".": a step's task id is "<run_id>.<step_id>". */
export const STEP_ID_RE = /^[A-Za-z0-9_-]{1,63}$/;
export const RUN_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** A step task's id and back (src/store/codecs/step-outcome.ts: pools derive it too). */
export { stepIdOf, stepTaskId } from '../store/codecs/step-outcome.js';

export interface ValidateWorkflowOptions {
  classes: ReadonlyMap<string, TaskClassOptions>;
  maxPayloadBytes: number;
  /** What executors may do (see src/executors/executor-policy.ts). */
  executors?: ExecutorPolicy;
  /** Most steps one workflow may have. */
  maxSteps: number;
}

/**
 * The task with every string that may hold references (payload values; a command's, a
 * container's or a Slurm job's argv and env, a named command's or script's args, and a Slurm
 * job's script) replaced by `fn(field, value)`, where `field` names it from the
 * task ("payload.x", "executor.command.argv[0]").
 */
export function mapTemplatedStrings(t: TaskSubmission, fn: (field: string, value: string) => string): TaskSubmission {
  const payload = Object.fromEntries(Object.entries(t.payload).map(([k, v]) => [k, fn(`payload.${k}`, v)]));
  const executor = t.executor && mapTemplatedExecutor(t.executor, fn);
  return { ...t, payload, executor };
}

/** Every string of a task that may hold references, with the field that names it. */
export function templatedStrings(t: TaskSubmission, field: string): [string, string][] {
  const out: [string, string][] = [];
  mapTemplatedStrings(t, (f, v) => {
    out.push([field ? `${field}.${f}` : f, v]);
    return v;
  });
  return out;
}

/** A cycle through `start`, as "a -> b -> a", found by walking dependencies. */
function findCycle(deps: ReadonlyMap<string, string[]>, start: string): string[] {
  const path: string[] = [];
  const onPath = new Set<string>();
  const done = new Set<string>();
  const visit = (s: string): string[] | undefined => {
    if (onPath.has(s)) return [...path.slice(path.indexOf(s)), s];
    if (done.has(s)) return undefined;
    onPath.add(s);
    path.push(s);
    for (const d of deps.get(s) ?? []) {
      const c = visit(d);
      if (c) return c;
    }
    path.pop();
    onPath.delete(s);
    done.add(s);
    return undefined;
  };
  return visit(start) ?? [start];
}

/** Validates a workflow; throws invalid_argument naming the step and field. */
export function validateWorkflow(w: WorkflowInput, opts: ValidateWorkflowOptions): void {
  if (!WORKFLOW_NAME_RE.test(w.name ?? ''))
    throw invalidArgument('name', `"${(w.name ?? '').slice(0, 140)}" must be 1-128 characters of A-Z a-z 0-9 _ . - (not starting with ".")`);
  if (w.steps.length === 0) throw invalidArgument('steps', 'a workflow needs at least one step');
  if (w.steps.length > opts.maxSteps) throw invalidArgument('steps', `${w.steps.length} steps is over the limit of ${opts.maxSteps}`);

  const index = new Map<string, number>();
  w.steps.forEach((s, i) => {
    const f = `steps[${i}]`;
    if (!STEP_ID_RE.test(s.stepId ?? ''))
      throw invalidArgument(`${f}.step_id`, `"${(s.stepId ?? '').slice(0, 80)}" must be 1-63 characters of A-Z a-z 0-9 _ -`);
    if (index.has(s.stepId)) throw invalidArgument(`${f}.step_id`, `step "${s.stepId}" appears twice (also steps[${index.get(s.stepId)}])`);
    index.set(s.stepId, i);
  });

  const deps = new Map<string, string[]>();
  w.steps.forEach((s, i) => {
    const f = `steps[${i}]`;
    for (const d of s.dependsOn) {
      if (!index.has(d)) throw invalidArgument(`${f}.depends_on`, `step "${s.stepId}" depends on unknown step "${d}"`);
    }
    deps.set(s.stepId, [...new Set(s.dependsOn)]);
  });

  // Kahn's algorithm: whatever cannot be ordered is on or behind a cycle.
  const remaining = new Map([...deps].map(([id, d]) => [id, d.length]));
  const dependents = dependentsOf(w.steps);
  const ready = [...remaining].filter(([, n]) => n === 0).map(([id]) => id);
  let ordered = 0;
  while (ready.length) {
    const id = ready.pop()!;
    ordered += 1;
    for (const d of dependents.get(id) ?? []) {
      const n = remaining.get(d)! - 1;
      remaining.set(d, n);
      if (n === 0) ready.push(d);
    }
  }
  if (ordered < w.steps.length) {
    const stuck = [...remaining].find(([, n]) => n > 0)![0];
    const cycle = findCycle(deps, stuck);
    throw invalidArgument(`steps[${index.get(cycle[0]!)}].depends_on`, `step "${cycle[0]}" is in a dependency cycle: ${cycle.join(' -> ')}`);
  }

  const ancestry = ancestorsOf(w.steps);
  w.steps.forEach((s, i) => {
    const f = `steps[${i}].task`;
    if (!s.task) throw invalidArgument(f, `step "${s.stepId}" has no task`);
    if (s.task.taskId) throw invalidArgument(`${f}.task_id`, `must be empty: the run names step tasks "<run_id>.${s.stepId}"`);
    if (s.task.workflowId) throw invalidArgument(`${f}.workflow_id`, 'must be empty: the run sets it to the run id');
    resolveTask({ ...s.task, taskId: 'x' }, { classes: opts.classes, maxPayloadBytes: opts.maxPayloadBytes, field: f, executors: opts.executors });
    const upstream = ancestry.get(s.stepId)!;
    for (const [field, text] of templatedStrings(s.task, f)) {
      let refs;
      try {
        refs = templateRefs(text);
      } catch (err) {
        if (err instanceof TemplateError) throw invalidArgument(field, `step "${s.stepId}": ${err.message}`);
        throw err;
      }
      for (const r of refs) {
        if (r.kind === 'step' && !upstream.has(r.stepId)) {
          throw invalidArgument(
            field,
            `step "${s.stepId}" refers to the result of step "${r.stepId}", which is not ${index.has(r.stepId) ? 'upstream of it (add it to depends_on)' : 'in the workflow'}`,
          );
        }
      }
    }
  });
}

/** step -> the steps that depend on it directly. */
function dependentsOf(steps: readonly WorkflowStepInput[]): Map<string, string[]> {
  const out = new Map<string, string[]>(steps.map((s) => [s.stepId, []]));
  for (const s of steps) for (const d of new Set(s.dependsOn)) out.get(d)?.push(s.stepId);
  return out;
}

/** step -> every step it depends on, directly or not. Steps must be acyclic. */
function ancestorsOf(steps: readonly WorkflowStepInput[]): Map<string, Set<string>> {
  const byId = new Map(steps.map((s) => [s.stepId, s]));
  const memo = new Map<string, Set<string>>();
  const visit = (id: string): Set<string> => {
    let set = memo.get(id);
    if (set) return set;
    set = new Set();
    memo.set(id, set);
    for (const d of byId.get(id)?.dependsOn ?? []) {
      set.add(d);
      for (const a of visit(d)) set.add(a);
    }
    return set;
  };
  // Deep chains: visit in dependency order so recursion stays shallow.
  for (const id of topologicalOrder(steps)) visit(id);
  return memo;
}

/** Steps ordered so every step comes after the steps it depends on. */
export function topologicalOrder(steps: readonly WorkflowStepInput[]): string[] {
  const remaining = new Map(steps.map((s) => [s.stepId, new Set(s.dependsOn).size]));
  const dependents = dependentsOf(steps);
  const queue = steps.filter((s) => remaining.get(s.stepId) === 0).map((s) => s.stepId);
  for (let i = 0; i < queue.length; i++) {
    for (const d of dependents.get(queue[i]!) ?? []) {
      const n = remaining.get(d)! - 1;
      remaining.set(d, n);
      if (n === 0) queue.push(d);
    }
  }
  return queue;
}

/** A definition with what runs need to know about its graph, computed once per version. */
export class WorkflowPlan {
  readonly steps: ReadonlyMap<string, WorkflowStepInput>;
  /** step -> steps depending on it directly. */
  readonly dependents: ReadonlyMap<string, readonly string[]>;
  /** Number of distinct dependencies of each step. */
  readonly dependencyCounts: ReadonlyMap<string, number>;
  private readonly descendantsMemo = new Map<string, string[]>();

  constructor(readonly definition: WorkflowDefinition) {
    this.steps = new Map(definition.steps.map((s) => [s.stepId, s]));
    this.dependents = dependentsOf(definition.steps);
    this.dependencyCounts = new Map(definition.steps.map((s) => [s.stepId, new Set(s.dependsOn).size]));
  }

  /** Every step downstream of `stepId` (they cannot run once it failed). */
  descendants(stepId: string): readonly string[] {
    let out = this.descendantsMemo.get(stepId);
    if (out) return out;
    const seen = new Set<string>();
    const stack = [...(this.dependents.get(stepId) ?? [])];
    while (stack.length) {
      const s = stack.pop()!;
      if (seen.has(s)) continue;
      seen.add(s);
      stack.push(...(this.dependents.get(s) ?? []));
    }
    out = [...seen];
    this.descendantsMemo.set(stepId, out);
    return out;
  }
}
