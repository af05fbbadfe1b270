/**
 * Counts the entries of a feed as they arrive, the way a feed consumer would see them: XREAD
 * BLOCK from the start of each of its streams, on a connection of its own per stream. A feed is
 * one stream on a single Redis and one per class on a Redis Cluster (Keys.resultStreams); the
 * count is their sum. A connection per stream because on a cluster the streams may be on
 * different masters, and a blocking read would hold a shared connection to one of them.
 */
import { createRedis } from '../src/redis/connection.js';
import type { RedisClient } from '../src/redis/redis-client.js';

export class StreamCounter {
  count = 0;
  private readonly keys: readonly string[];
  private readonly connections: RedisClient[] = [];
  private readonly waiters: { n: number; resolve(): void }[] = [];
  private stopped = false;
  private readonly loops: Promise<void>[];

  /** `onEntries`: gets each batch of entries as the read returns it (ids and fields). */
  constructor(
    redisUrl: string,
    keys: string | readonly string[],
    private readonly onEntries?: (entries: readonly [string, string[]][]) => void,
  ) {
    this.keys = typeof keys === 'string' ? [keys] : keys;
    this.loops = this.keys.map((key) => {
      const redis = createRedis(redisUrl);
      this.connections.push(redis);
      return this.run(redis, key);
    });
  }

  private async run(redis: RedisClient, key: string): Promise<void> {
    let cursor = '0';
    while (!this.stopped) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await redis.xread('COUNT', 5_000, 'BLOCK', 200, 'STREAMS', key, cursor)) as typeof reply;
      } catch (err) {
        if (this.stopped) return;
        throw err;
      }
      if (!reply) continue;
      const entries = reply[0]![1];
      this.onEntries?.(entries);
      this.count += entries.length;
      cursor = entries[entries.length - 1]![0];
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        if (this.count >= this.waiters[i]!.n) this.waiters.splice(i, 1)[0]!.resolve();
      }
    }
  }

  /** Resolves once `n` entries have been seen in total. */
  until(n: number, timeoutMs: number): Promise<void> {
    if (this.count >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out: ${this.count} of ${n} entries in ${this.keys.join(', ')} after ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  async close(): Promise<void> {
    this.stopped = true;
    for (const c of this.connections) c.disconnect();
    await Promise.all(this.loops.map((l) => l.catch(() => undefined)));
  }
}
