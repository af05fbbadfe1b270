/**
 * src/store/ is the only code that writes Redis (README "The store"): no domain module, transport
 * or dashboard file issues a write command of its own. Reads may live anywhere; BullMQ's public
 * API (Queue.add, pause, ...) is BullMQ's own door and stays allowed.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const CODE = ['src', 'workers', 'queues', 'dashboard'];

function files(dir: string, base = ''): string[] {
  let entries;
  try {
    entries = readdirSync(join(dir, base), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const p = base ? `${base}/${e.name}` : e.name;
    if (e.isDirectory()) return files(dir, p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/**
 * An ioredis write command called as a method (`redis.hset(`, `.xadd(` in a MULTI). `set` only
 * on something named redis: Map and Set have one too.
 */
const WRITE =
  /\bredis\.set\(|\.(xadd|xtrim|xack|xdel|xgroup|hincrby|hincrbyfloat|hset|hsetnx|hmset|hdel|publish|zadd|zrem|zremrangebyscore|zremrangebyrank|zincrby|sadd|srem|lpush|rpush|lpop|rpop|ltrim|lrem|del|unlink|pexpire|expire|persist|incr|incrby|decr|setex|psetex|getdel|eval|evalsha|rename|copy|flushdb|flushall)\(/;

describe('store write boundary', () => {
  it('the pattern catches a write path', () => {
    expect(WRITE.test("await redis.multi().hset(keys.cancel, taskId, why).publish(keys.cancelChannel, 'x').exec();")).toBe(true);
    expect(WRITE.test('await redis.zrem(keys.runIndex, ...gone);')).toBe(true);
    expect(WRITE.test("await this.opts.redis.set(key, jobId, 'PX', ttl);")).toBe(true);
    expect(WRITE.test('const v = await redis.hmget(keys.limits, ...classes); seen.delete(id); m.set(k, v);')).toBe(false);
  });

  it('no code outside src/store/ writes Redis', () => {
    const code = CODE.flatMap((d) => files(join(ROOT, d)).map((f) => `${d}/${f}`)).filter((f) => !f.startsWith('src/store/') && !f.startsWith('src/gen/'));
    expect(code).toContain('src/feeds/feed-writer.ts');
    const writers = code.filter((f) => WRITE.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(writers).toEqual([]);
  });
});
