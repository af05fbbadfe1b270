import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';

/**
 * The Slurm job id an attempt submitted (key `slurmJob(taskId, attempt)`, a string), kept so that
 * a rerun of the attempt re-attaches to the job instead of submitting another
 * (workers/slurm-job-ids.ts reads it). One command each, so no script.
 */

/** Stores attempt `attempt` of `taskId`'s Slurm job id, expiring after `ttlMs` (SET PX). */
export function keepSlurmJobId(redis: RedisClient, keys: Keys): (taskId: string, attempt: number, jobId: string, ttlMs: number) => Promise<void> {
  return async (taskId, attempt, jobId, ttlMs) => {
    await redis.set(keys.slurmJob(taskId, attempt), jobId, 'PX', ttlMs);
  };
}

/** The job ended: its id is kept only `ttlMs` more, for a rerun to read the outcome (PEXPIRE). */
export function slurmJobEnded(redis: RedisClient, keys: Keys): (taskId: string, attempt: number, ttlMs: number) => Promise<void> {
  return async (taskId, attempt, ttlMs) => {
    await redis.pexpire(keys.slurmJob(taskId, attempt), ttlMs);
  };
}
