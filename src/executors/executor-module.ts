/**
 * What the front end knows of one executor kind, in one module per kind (src/executors/<kind>.ts),
 * gathered in one table (registry.ts). The pool's side of a kind (the executor that runs it) is
 * in workers/executors/, reached through workers/executors/pool-executors.ts; the client's side
 * (its input shape) in client-executors.ts, which imports nothing of the server.
 */
import type * as pb from '../gen/orchestrator/v1/orchestrator.js';
import type { ExecutorKind } from './executor-kind.js';
import type { ExecutorSpecOf } from './executor-spec.js';
import type { ExecutorCheckContext } from './spec-checks.js';

/** The proto message of one kind (the value of ExecutorSpec's `kind` oneof). */
export type PbExecutorOf<K extends ExecutorKind> = Extract<NonNullable<pb.ExecutorSpec['kind']>, { $case: K }>['value'];

/** Replaces one templated string; `field` names it from the task ("executor.command.argv[0]"). */
export type TemplateMapper = (field: string, value: string) => string;

export interface ExecutorModule<K extends ExecutorKind> {
  readonly kind: K;
  /**
   * Validation and policy checks, run at submission and again by the pool that runs the task
   * (workers/job-admission.ts): the spec as it is stored (normalised, maps sorted so that
   * digests do not depend on order), invalid_argument for a malformed spec, permission_denied
   * naming the config key for one the policy forbids.
   */
  check(field: string, spec: ExecutorSpecOf<K>, c: ExecutorCheckContext): ExecutorSpecOf<K>;
  /** The proto message into the spec, unchecked (check follows). */
  fromPb(value: PbExecutorOf<K>): ExecutorSpecOf<K>;
  /** The spec into the proto message (a stored schedule's task, read back). */
  toPb(spec: ExecutorSpecOf<K>): PbExecutorOf<K>;
  /**
   * The spec with every string a workflow step may template (src/workflows/templates.ts)
   * replaced by `fn`; the spec itself when the kind has none.
   */
  mapTemplated(spec: ExecutorSpecOf<K>, fn: TemplateMapper): ExecutorSpecOf<K>;
}
