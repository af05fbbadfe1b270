/**
 * The one place a process's key names are derived from where its Redis is: the prefix, and
 * whether the URL its connections open (src/redis/connection.ts) names a Redis Cluster (several
 * seed nodes: src/config/redis-address.ts), which decides the feeds' layout (one stream per class
 * on a cluster, see keys.ts).
 */
import { isClusterUrl } from '../config/redis-address.js';
import { keys, type Keys } from './keys.js';

/**
 * `classes`: the configured classes, whose `partitions` split a class's keys on a cluster. Every
 * process of a deployment must pass the same (the orchestrator, pools, orchctl, the dashboard):
 * a task's keys follow from its class's partition count. @default every class unpartitioned
 */
export function keysFor(prefix: string, redisUrl: string, classes?: ReadonlyMap<string, { partitions: number }>): Keys {
  const partitions = new Map([...(classes ?? [])].map(([name, c]) => [name, c.partitions]));
  return keys(prefix, { cluster: isClusterUrl(redisUrl), partitions });
}
