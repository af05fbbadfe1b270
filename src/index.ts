/**
 * Orchestrator's root entry, `orchestrator`: the union of the three entries, kept so that
 * `import { OrchestratorClient } from 'orchestrator'` and `import { Orchestrator } from
 * 'orchestrator'` go on working. Importing it loads the whole server (BullMQ, ioredis,
 * dockerode, Express); pick the entry that fits instead:
 *
 *   import { OrchestratorClient } from 'orchestrator/client'; // client and API types only
 *   import { Orchestrator, loadConfig } from 'orchestrator/server'; // embed the orchestrator
 *   import { WorkerPool, type Handler } from 'orchestrator/pool'; // embed a worker pool
 *
 * Usage of each is in its module comment (src/entry/).
 */
// The names the entries share (loadConfig, createLogger, the errors, VERSION, ...) are the same
// bindings, so the union has one of each.
export * from './entry/client.js';
export * from './entry/server.js';
export * from './entry/pool.js';
