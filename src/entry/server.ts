/**
 * `orchestrator/server`: embed the orchestrator (gRPC front end, workflow engine, schedules,
 * the operator HTTP listener) in your own process.
 *
 *   import { Orchestrator, loadConfig, createLogger } from 'orchestrator/server';
 *   const config = loadConfig(); // set REDIS_URL: only the process entries (src/bin, workers/main.ts) may start an embedded Redis
 *   const orchestrator = new Orchestrator({ config, redisUrl: config.redis.url, logger: createLogger('info') });
 *   await orchestrator.start();
 *   // ... on SIGTERM: await orchestrator.close();
 *
 * Loads BullMQ, ioredis, Express and the rest of the server; a program that only calls an
 * orchestrator imports `orchestrator/client` instead.
 */
export { Orchestrator } from '../orchestrator.js';
export type { OrchestratorOptions } from '../orchestrator.js';
export { loadConfig, ConfigError } from '../config/config.js';
export type { Config, ConfigInput, LoadConfigOptions } from '../config/config.js';
export { createLogger } from '../logging/logger.js';
export { OrchestratorError, TaskError } from '../errors/errors.js';
export type { ErrorCode } from '../errors/errors.js';
export { EVENT_TYPES } from '../store/codecs/feed-format.js';
export type { EventType, TaskEventRecord, TaskResultRecord } from '../store/codecs/feed-format.js';
export { DEFAULT_TASK_CLASSES } from '../../queues/task-classes.js';
export type { TaskClassOptions } from '../../queues/task-classes.js';
export { VERSION } from '../version.js';
