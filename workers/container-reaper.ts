/**
 * Removes containers that no live pool owns: a pool killed mid-task leaves its container running
 * on the engine, and nothing else would ever stop it if the task is not run again (it failed
 * for good, or was cancelled while its pool was down).
 *
 * A pool runs this at start-up, before it takes tasks. It removes the containers, in this
 * deployment (label `orchestrator.prefix`), whose pool is
 * - this pool's own id: left from an earlier life of a pool with the same id, since a pool
 *   that has not started yet has no containers; or
 * - gone: absent from `{prefix}:pools` or silent there for longer than `deadAfterMs`. This is
 *   deliberately much longer than the heartbeat timeout health uses: removing the container of
 *   a pool that is only slow would fail a healthy task.
 */
import type { RedisClient } from '../src/redis/redis-client.js';
import type { DockerClient } from '../src/docker/docker-client.js';
import type { Logger } from '../src/logging/logger.js';
import type { Keys } from '../src/store/keys.js';
import { CONTAINER_LABELS } from './executors/container.js';

export interface ContainerReaperOptions {
  docker: DockerClient;
  redis: RedisClient;
  keys: Keys;
  /** The Redis key prefix: only this deployment's containers are considered. */
  prefix: string;
  poolId: string;
  /** A pool silent for longer than this is gone. */
  deadAfterMs: number;
  logger: Logger;
}

/** Removes orphaned containers; returns how many. */
export async function reapOrphanContainers(opts: ContainerReaperOptions): Promise<number> {
  const containers = await opts.docker.containersLabelled({ [CONTAINER_LABELS.prefix]: opts.prefix });
  const owners = [...new Set(containers.map((c) => c.Labels[CONTAINER_LABELS.poolId] ?? ''))];
  const lastBeat = new Map<string, number | null>();
  if (owners.length > 0) {
    const scores = await opts.redis.zmscore(opts.keys.pools, ...owners);
    owners.forEach((id, i) => lastBeat.set(id, scores[i] === null ? null : Number(scores[i])));
  }
  const now = Date.now();
  let removed = 0;
  for (const c of containers) {
    const owner = c.Labels[CONTAINER_LABELS.poolId] ?? '';
    const beat = lastBeat.get(owner);
    const orphan = owner === opts.poolId || beat === null || beat === undefined || now - beat > opts.deadAfterMs;
    if (!orphan) continue;
    opts.logger.info({ container: c.Id, owner, taskId: c.Labels[CONTAINER_LABELS.taskId] }, 'removing a container its pool left behind');
    try {
      await opts.docker.remove(c.Id);
      removed++;
    } catch (err) {
      opts.logger.warn({ err, container: c.Id }, 'could not remove an orphaned container');
    }
  }
  return removed;
}
