/**
 * Counts the entries of a Redis stream as they arrive, the way a feed consumer would see them:
 * XREAD BLOCK from the start of the stream, on a connection of its own.
 */
import { Redis } from 'ioredis';

export class StreamCounter {
  count = 0;
  private readonly redis: Redis;
  private readonly waiters: { n: number; resolve(): void }[] = [];
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(
    redisUrl: string,
    private readonly key: string,
  ) {
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    this.redis.on('error', () => undefined);
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let cursor = '0';
    while (!this.stopped) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await this.redis.xread('COUNT', 5_000, 'BLOCK', 200, 'STREAMS', this.key, cursor)) as typeof reply;
      } catch (err) {
        if (this.stopped) return;
        throw err;
      }
      if (!reply) continue;
      const entries = reply[0]![1];
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
      const timer = setTimeout(() => reject(new Error(`timed out: ${this.count} of ${n} entries in ${this.key} after ${timeoutMs} ms`)), timeoutMs);
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
    this.redis.disconnect();
    await this.loop.catch(() => undefined);
  }
}
