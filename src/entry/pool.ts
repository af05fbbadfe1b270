/**
 * `orchestrator/pool`: embed a worker pool (the BullMQ workers and executors that run tasks)
 * in your own process, and write handlers for it.
 *
 *   import { WorkerPool, loadConfig, createLogger } from 'orchestrator/pool';
 *   const config = loadConfig(); // set REDIS_URL: only the process entries (src/bin, workers/main.ts) may start an embedded Redis
 *   const pool = new WorkerPool({ config, redisUrl: config.redis.url, logger: createLogger('info') });
 *   await pool.start();
 *   // ... on SIGTERM: await pool.close();
 *
 * `dist/workers/main.js` is the same pool as a process (flags and config file); this entry is
 * for programs that host one themselves.
 */
export { WorkerPool } from '../../workers/worker-pool.js';
export type { WorkerPoolOptions } from '../../workers/worker-pool.js';
export type { Handler, HandlerContext } from '../../workers/handlers/handler.js';
export { loadConfig, ConfigError } from '../config/config.js';
export type { Config, ConfigInput, LoadConfigOptions } from '../config/config.js';
export { createLogger } from '../logging/logger.js';
export { OrchestratorError, TaskError } from '../errors/errors.js';
export type { ErrorCode } from '../errors/errors.js';
export { DEFAULT_TASK_CLASSES } from '../../queues/task-classes.js';
export type { TaskClassOptions } from '../../queues/task-classes.js';
export { VERSION } from '../version.js';
