/**
 * A connection to the configured Redis: one server, or a Redis Cluster when the URL names several
 * seed nodes (src/redis/redis-address.ts). ioredis gives both the same commands, pipelines and
 * script calls; code that needs more than that (a SCAN, which on a cluster walks one node) asks
 * which it has with `isCluster`.
 */
import type { Cluster, Redis } from 'ioredis';

export type RedisClient = Redis | Cluster;

export function isCluster(r: RedisClient): r is Cluster {
  return (r as Cluster).isCluster === true;
}
