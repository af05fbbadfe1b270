/**
 * The executor kinds, in one list at the ground of the import graph: the config schema, the
 * task classes, the CLI and both executor tables (src/executors/registry.ts for the front end,
 * workers/executors/pool-executors.ts for the pool) are typed by it, so a kind added here is a
 * compile error at every site until it is handled (README "Adding an executor kind").
 */
export const EXECUTOR_KINDS = ['handler', 'command', 'http', 'container', 'slurm', 'runner'] as const;
export type ExecutorKind = (typeof EXECUTOR_KINDS)[number];

const KINDS: ReadonlySet<string> = new Set(EXECUTOR_KINDS);

/** Whether `kind` (from a caller, a job or a stored record) is one this build knows. */
export function isExecutorKind(kind: unknown): kind is ExecutorKind {
  return typeof kind === 'string' && KINDS.has(kind);
}
