/**
 * Commands whose key ioredis cannot find in their arguments: those with a subcommand before the
 * key, XINFO, XGROUP and MEMORY USAGE among them (`@ioredis/commands` gives them no key index).
 * A Redis Cluster client sends such a command to a random node, which answers MOVED; auto-pipelined,
 * it also takes the commands batched with it to that node, and their MOVED replies reach their
 * callers as errors (ioredis does not follow a redirection inside a pipeline whose other commands
 * succeeded). keyedCommand routes the command by the slot of the key it names, as a keyed command
 * goes, following redirections, outside any auto-pipeline.
 */
import { Command } from 'ioredis';
import { isCluster, type RedisClient } from './redis-client.js';

/** `name args...` on `redis`, routed by `key`'s slot on a cluster; its reply with strings as strings. */
export function keyedCommand(redis: RedisClient, key: string, name: string, args: readonly (string | number)[]): Promise<unknown> {
  if (!isCluster(redis)) return redis.call(name, ...args);
  return redis.sendCommand(new Command(name, [...args], { replyEncoding: 'utf8' }), undefined, { slot: slotOf(key) }) as Promise<unknown>;
}

/** The cluster slot of `key`, by ioredis's own hashing (CRC16 of the hash tag, mod 16384). */
export function slotOf(key: string): number {
  return new Command('exists', [key]).getSlot();
}
