/**
 * The one place a process's key names are derived from where its Redis is: the prefix, and
 * whether the URL its connections open (src/redis/connection.ts) names a Redis Cluster (several
 * seed nodes: src/config/redis-address.ts), which decides the feeds' layout (one stream per class
 * on a cluster, see keys.ts).
 */
import { isClusterUrl } from '../config/redis-address.js';
import { keys, type Keys } from './keys.js';

export function keysFor(prefix: string, redisUrl: string): Keys {
  return keys(prefix, { cluster: isClusterUrl(redisUrl) });
}
