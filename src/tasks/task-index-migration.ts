/**
 * The start-up migration from the previous versions' task index and task lists: the one hash
 * `{<prefix>}:tasks` moves into the index buckets `{<prefix>}:ix:<n>`, and each configured
 * class's zset `{<prefix>}:tasks:<class>` into its stream `{<prefix>}:list:<class>`
 * (src/store/keys.ts), each task's index value getting its new list entry's id.
 *
 * An orchestrator runs it before it serves: under a lock (one orchestrator moves, the others wait
 * for the lock to go and then find nothing left), in batches, each batch one script that reads,
 * writes and deletes its entries (src/store/lua/tasks/migrate-task-list.lua, then
 * migrate-task-index.lua): what a batch moved is gone from the old keys, so an orchestrator
 * killed mid-way leaves the rest there, and the next one takes the lock once its TTL ran out and
 * moves the rest. The lists go first, so that a value moves into its bucket with its list entry.
 * A list of a class no longer configured is left as it is (nothing lists it).
 *
 * Front ends of the previous version must be stopped first: they would keep writing the old keys
 * (and find no task submitted to this version). Pools of either version never touch them.
 */
import type { RedisClient } from '../redis/redis-client.js';
import type { Logger } from 'pino';
import type { Keys } from '../store/keys.js';
import { holdLock } from '../store/locks/hold-lock.js';
import { releaseLock } from '../store/locks/release-lock.js';
import { migrateTaskIndex } from '../store/tasks/migrate-task-index.js';
import { migrateTaskList } from '../store/tasks/migrate-task-list.js';

export interface TaskIndexMigrationOptions {
  redis: RedisClient;
  keys: Keys;
  logger: Logger;
  /** The configured classes, whose previous task lists are moved. */
  classes: Iterable<string>;
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

/** Moves everything the previous layout holds; returns how many entries (index and lists) this call moved. */
export async function migrateLegacyTaskIndex(opts: TaskIndexMigrationOptions): Promise<number> {
  const { redis, keys, ownerId } = opts;
  // A Redis Cluster has nothing of the previous layout to move: it is served from this layout on.
  if (keys.cluster) return 0;
  const classes = [...opts.classes];
  const batch = opts.batch ?? 500;
  const ttlMs = opts.lockTtlMs ?? 30_000;
  const hold = holdLock(redis, keys.migrationLock);
  const release = releaseLock(redis, keys.migrationLock);
  const moveIndex = migrateTaskIndex(redis, keys);
  const moveList = migrateTaskList(redis, keys);
  const log = opts.logger.child({ component: 'task-index-migration' });
  const oldKeys = [...classes.map((c) => keys.legacyTaskList(c)), keys.legacyTaskIndex];
  let moved = 0;
  let waitLogged = false;
  const step = async (n: number) => {
    moved += n;
    await opts.afterBatch?.(moved);
    if (!(await hold(ownerId, ttlMs))) throw new Error('lost the task index migration lock (another orchestrator took it after its TTL)');
  };
  while ((await redis.exists(...oldKeys)) > 0) {
    if (!(await hold(ownerId, ttlMs))) {
      if (!waitLogged) log.info('another orchestrator is moving the previous task index; waiting for it');
      waitLogged = true;
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
      continue;
    }
    if (moved === 0) log.info({ entries: await redis.hlen(keys.legacyTaskIndex) }, 'moving the previous task index and task lists');
    // A failure leaves the lock to its TTL, as a kill would: the next try resumes.
    for (const c of classes) {
      for (;;) {
        const ids = await redis.zrange(keys.legacyTaskList(c), 0, batch - 1);
        if (ids.length === 0) break;
        await step(await moveList(c, ids));
      }
    }
    let cursor = '0';
    do {
      const [next, flat] = await redis.hscan(keys.legacyTaskIndex, cursor, 'COUNT', batch);
      cursor = next;
      // A small hash answers whole whatever COUNT says: cut it into batches here.
      const ids = flat.filter((_, i) => i % 2 === 0);
      for (let i = 0; i < ids.length; i += batch) await step(await moveIndex(ids.slice(i, i + batch)));
    } while (cursor !== '0');
    await release(ownerId);
  }
  if (moved > 0) log.info({ moved }, 'moved the previous task index and task lists');
  return moved;
}
