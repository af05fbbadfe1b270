/**
 * The executor kinds, in one list at the ground of the import graph: the config schema, the
 * task classes, the CLI and both executor tables (src/executors/registry.ts for the front end,
 * workers/executors/pool-executors.ts for the pool) are typed by it, so a kind added here is a
 * compile error at every site until it is handled (README "Adding an executor kind").
 */
export const EXECUTOR_KINDS = ['handler', 'command', 'http', 'container', 'slurm'] as const;
export type ExecutorKind = (typeof EXECUTOR_KINDS)[number];
