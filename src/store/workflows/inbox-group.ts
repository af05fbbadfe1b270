/**
 * A workflow inbox's consumer group (`{<prefix>}:wf:inbox`, and on a cluster each class's
 * `{<prefix>}:inbox:<class>`: src/store/keys.ts; read by the workflow engines):
 * made once, entries acknowledged and deleted together once applied, consumers that left
 * removed. Plain commands (XINFO and XGROUP routed by their key: src/redis/keyed-command.ts); taking over what a stopped consumer left is take-over-inbox.ts.
 */
import type { RedisClient } from '../../redis/redis-client.js';
import type { InboxStream } from '../keys.js';
import { keyedCommand } from '../../redis/keyed-command.js';

/** Creates the group (and the stream) if missing; a group already there is left as it is. */
export async function ensureInboxGroup(redis: RedisClient, inbox: InboxStream, group: string): Promise<void> {
  try {
    await keyedCommand(redis, inbox.key, 'xgroup', ['CREATE', inbox.key, group, '0', 'MKSTREAM']);
  } catch (err) {
    if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
  }
}

/** Acknowledges and deletes applied entries in one MULTI: an entry is done once, and gone. */
export async function ackInboxEntries(redis: RedisClient, inbox: InboxStream, group: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await redis
    .multi()
    .xack(inbox.key, group, ...ids)
    .xdel(inbox.key, ...ids)
    .exec();
}

/** Removes the group's consumers (but `self`) with nothing pending, idle longer than `idleMs`. */
export async function forgetIdleInboxConsumers(redis: RedisClient, inbox: InboxStream, group: string, self: string, idleMs: number): Promise<void> {
  const list = (await keyedCommand(redis, inbox.key, 'xinfo', ['CONSUMERS', inbox.key, group])) as unknown[][];
  for (const c of list) {
    const info = new Map<string, unknown>();
    for (let i = 0; i + 1 < c.length; i += 2) info.set(String(c[i]), c[i + 1]);
    if (info.get('name') !== self && Number(info.get('pending')) === 0 && Number(info.get('idle')) > idleMs) {
      await keyedCommand(redis, inbox.key, 'xgroup', ['DELCONSUMER', inbox.key, group, String(info.get('name'))]);
    }
  }
}
