/**
 * Which Slurm job an attempt submitted, kept in Redis so that it outlives the pool.
 *
 * Contract: key `{<prefix>}:slurm:<task_id>:<attempt>`, a string holding the Slurm job id.
 * Written right after sbatch answers and before the pool waits on the job; a rerun of the same
 * attempt (BullMQ's stall recovery keeps the attempt number) reads it and tracks that job
 * instead of submitting another. Expires `ttlMs` after it is written, and `endedTtlMs` after the
 * job ended (a rerun may still need it to read the outcome while Slurm remembers the job).
 * The writes are src/store/slurm/slurm-job-ids.ts's; the read stays here.
 */
import type { RedisClient } from '../src/redis/redis-client.js';
import type { Keys } from '../src/store/keys.js';
import { keepSlurmJobId, slurmJobEnded } from '../src/store/slurm/slurm-job-ids.js';

export interface SlurmJobIdsOptions {
  redis: RedisClient;
  keys: Keys;
  /** How long a running job's id is kept: beyond any task timeout. @default 8 days */
  ttlMs?: number;
  /** How long it is kept once the job ended. @default 1 hour */
  endedTtlMs?: number;
}

export class SlurmJobIds {
  private readonly ttlMs: number;
  private readonly endedTtlMs: number;
  private readonly keep: ReturnType<typeof keepSlurmJobId>;
  private readonly markEnded: ReturnType<typeof slurmJobEnded>;

  constructor(private readonly opts: SlurmJobIdsOptions) {
    this.ttlMs = opts.ttlMs ?? 8 * 24 * 3_600_000;
    this.endedTtlMs = opts.endedTtlMs ?? 3_600_000;
    this.keep = keepSlurmJobId(opts.redis, opts.keys);
    this.markEnded = slurmJobEnded(opts.redis, opts.keys);
  }

  async get(taskId: string, attempt: number): Promise<string | undefined> {
    return (await this.opts.redis.get(this.opts.keys.slurmJob(taskId, attempt))) ?? undefined;
  }

  async set(taskId: string, attempt: number, jobId: string): Promise<void> {
    await this.keep(taskId, attempt, jobId, this.ttlMs);
  }

  async ended(taskId: string, attempt: number): Promise<void> {
    await this.markEnded(taskId, attempt, this.endedTtlMs);
  }
}
