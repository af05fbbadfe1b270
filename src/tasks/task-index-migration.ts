/**
 * The start-up migration of the task index from the previous versions' one hash
 * (`{<prefix>}:tasks`) into its buckets (`{<prefix>}:ix:<n>`, src/store/keys.ts).
 *
 * An orchestrator runs it before it serves: under a lock (one orchestrator moves, the others wait
 * for the lock to go and then find nothing left), in batches, each batch one script that reads,
 * copies and deletes its entries (src/store/lua/tasks/migrate-task-index.lua). What a batch moved
 * is gone from the old hash, so an orchestrator killed mid-way leaves the rest there; the next one
 * takes the lock once its TTL ran out and moves the rest. A copy never overwrites a bucket's
 * entry, so a batch applied twice changes nothing.
 *
 * Front ends of the previous version must be stopped first: they would keep writing the old hash
 * (and find no task submitted to this version). Pools of either version never read or write it.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Keys } from '../store/keys.js';
import { holdLock } from '../store/locks/hold-lock.js';
import { releaseLock } from '../store/locks/release-lock.js';
import { migrateTaskIndex } from '../store/tasks/migrate-task-index.js';

export interface TaskIndexMigrationOptions {
  redis: Redis;
  keys: Keys;
  logger: Logger;
  /** Unique per process: the lock's owner. */
  ownerId: string;
  /** Entries per script call. @default 500 */
  batch?: number;
  /** How long the lock outlives a holder that stopped renewing it (killed). @default 30000 */
  lockTtlMs?: number;
  /** How often a waiting orchestrator looks again. @default 250 */
  pollMs?: number;
  /** Called after each batch with the number moved so far (tests interrupt a run here). */
  afterBatch?: (moved: number) => void | Promise<void>;
}

/** Moves every entry of the previous index into the buckets; returns how many this call moved. */
export async function migrateLegacyTaskIndex(opts: TaskIndexMigrationOptions): Promise<number> {
  const { redis, keys, ownerId } = opts;
  const legacy = keys.legacyTaskIndex;
  const batch = opts.batch ?? 500;
  const ttlMs = opts.lockTtlMs ?? 30_000;
  const hold = holdLock(redis, keys.migrationLock);
  const release = releaseLock(redis, keys.migrationLock);
  const move = migrateTaskIndex(redis, keys);
  const log = opts.logger.child({ component: 'task-index-migration' });
  let moved = 0;
  let waitLogged = false;
  while ((await redis.exists(legacy)) === 1) {
    if (!(await hold(ownerId, ttlMs))) {
      if (!waitLogged) log.info('another orchestrator is moving the previous task index; waiting for it');
      waitLogged = true;
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
      continue;
    }
    if (moved === 0) log.info({ entries: await redis.hlen(legacy) }, 'moving the previous task index into its buckets');
    // A failure leaves the lock to its TTL, as a kill would: the next try resumes.
    let cursor = '0';
    do {
      const [next, flat] = await redis.hscan(legacy, cursor, 'COUNT', batch);
      cursor = next;
      // A small hash answers whole whatever COUNT says: cut it into batches here.
      const ids = flat.filter((_, i) => i % 2 === 0);
      for (let i = 0; i < ids.length; i += batch) {
        moved += await move(ids.slice(i, i + batch));
        await opts.afterBatch?.(moved);
        if (!(await hold(ownerId, ttlMs))) throw new Error('lost the task index migration lock (another orchestrator took it after its TTL)');
      }
    } while (cursor !== '0');
    await release(ownerId);
  }
  if (moved > 0) log.info({ moved }, 'moved the previous task index into its buckets');
  return moved;
}
