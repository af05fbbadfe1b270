/**
 * The executor kinds' table: one module per kind, keyed by kind. `satisfies` makes a kind added
 * to EXECUTOR_KINDS a compile error here until its module exists, and the functions below are
 * the only way the rest of the front end reaches a kind's code, so no site can fall through to
 * another kind's branch (README "Adding an executor kind").
 */
import type * as pb from '../gen/orchestrator/v1/orchestrator.js';
import { invalidArgument, OrchestratorError } from '../errors/errors.js';
import { commandExecutor } from './command.js';
import { containerExecutor } from './container.js';
import { isExecutorKind, type ExecutorKind } from './executor-kind.js';
import type { ExecutorModule, TemplateMapper } from './executor-module.js';
import type { ExecutorSpec } from './executor-spec.js';
import { handlerExecutor } from './handler.js';
import { httpExecutor } from './http.js';
import { runnerExecutor } from './runner.js';
import { slurmExecutor } from './slurm.js';
import type { ExecutorCheckContext } from './spec-checks.js';

/** Every kind's module, keyed by the kind it handles. */
export type ExecutorTable = { readonly [K in ExecutorKind]: ExecutorModule<K> };

export const EXECUTORS = {
  handler: handlerExecutor,
  command: commandExecutor,
  http: httpExecutor,
  container: containerExecutor,
  slurm: slurmExecutor,
  runner: runnerExecutor,
} as const satisfies ExecutorTable;

/**
 * The module of `kind`, typed for any spec. TypeScript cannot tie `EXECUTORS[spec.kind]` to
 * `spec`'s own type, so this one widening stands for every dispatch below.
 */
function moduleOf(kind: ExecutorKind): ExecutorModule<ExecutorKind> {
  return EXECUTORS[kind] as unknown as ExecutorModule<ExecutorKind>;
}

/** Runs the kind's validation and policy checks (see ExecutorModule.check). */
export function checkExecutorSpec(field: string, spec: ExecutorSpec, c: ExecutorCheckContext): ExecutorSpec {
  if (!isExecutorKind(spec.kind)) throw invalidArgument(field, 'unknown executor kind');
  return moduleOf(spec.kind).check(field, spec, c);
}

/** The proto's executor into the spec: undefined when none is set, invalid_argument naming `field` for a kind this build does not know. */
export function executorFromPb(e: pb.ExecutorSpec | undefined, field: string): ExecutorSpec | undefined {
  const k = e?.kind;
  if (k === undefined) return undefined;
  if (!isExecutorKind(k.$case)) throw invalidArgument(field, 'unknown executor kind');
  return (moduleOf(k.$case).fromPb as (v: unknown) => ExecutorSpec)(k.value);
}

/**
 * The spec into the proto's executor. A stored spec of a kind this build does not know (written
 * by a newer one) is an internal error naming the kind, never an answer without its executor.
 */
export function executorToPb(e: ExecutorSpec): pb.ExecutorSpec {
  if (!isExecutorKind(e.kind)) throw new OrchestratorError('internal', `executor kind "${String(e.kind).slice(0, 40)}" is not one this build knows`);
  const value = moduleOf(e.kind).toPb(e);
  return { kind: { $case: e.kind, value } as pb.ExecutorSpec['kind'] };
}

/** The spec with its templated strings replaced by `fn` (see ExecutorModule.mapTemplated). */
export function mapTemplatedExecutor(e: ExecutorSpec, fn: TemplateMapper): ExecutorSpec {
  return moduleOf(e.kind).mapTemplated(e, fn);
}
