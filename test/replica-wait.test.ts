/**
 * redis.waitReplicas / redis.waitTimeoutMs: their defaults and bounds, and the parts of the WAIT
 * that need no Redis (the slot a key is confirmed by, the off switch). The WAIT itself is in
 * test/replica-wait.int.test.ts (one Redis with a replica) and
 * test/redis-cluster-wait.chaos.test.ts (a cluster's failover).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { ReplicaWait, WrittenKeys } from '../src/redis/replica-wait.js';
import { hashTag } from '../src/redis/hash-tag.js';
import type { RedisClient } from '../src/redis/redis-client.js';

function withRedis(lines: string) {
  const file = join(mkdtempSync(join(tmpdir(), 'orq-config-')), 'c.toml');
  writeFileSync(file, `[redis]\n${lines}\n`);
  return loadConfig({ file, env: {} });
}

describe('redis.waitReplicas and redis.waitTimeoutMs', () => {
  it('are off by default (no WAIT), with a 1 s timeout', () => {
    const c = loadConfig({ env: {} });
    expect(c.redis.waitReplicas).toBe(0);
    expect(c.redis.waitTimeoutMs).toBe(1_000);
    expect(withRedis('waitReplicas = 2\nwaitTimeoutMs = 250').redis).toMatchObject({ waitReplicas: 2, waitTimeoutMs: 250 });
  });

  it('refuse what WAIT cannot mean, naming the key', () => {
    expect(() => withRedis('waitReplicas = -1')).toThrow(/redis\.waitReplicas/);
    expect(() => withRedis('waitReplicas = 1.5')).toThrow(/redis\.waitReplicas/);
    expect(() => withRedis('waitReplicas = 17')).toThrow(/redis\.waitReplicas/);
    // WAIT n 0 blocks until the replicas answer, however long: never allowed.
    expect(() => withRedis('waitTimeoutMs = 0')).toThrow(/redis\.waitTimeoutMs/);
    expect(() => withRedis('waitTimeoutMs = 60001')).toThrow(/redis\.waitTimeoutMs/);
    expect(() => withRedis('waitTimeoutMs = "1s"')).toThrow(/redis\.waitTimeoutMs/);
  });
});

describe('what a WAIT is sent for', () => {
  it('groups keys by the part Redis Cluster hashes (its hash tag), as Redis does', () => {
    // By hashTag (src/redis/hash-tag.ts, checked against Redis's rule in test/class-slot-keys.test.ts).
    expect(hashTag('{orq:x')).toBe('{orq:x');
    const client = {} as RedisClient;
    const w = new WrittenKeys().note(client, '{orq}:a').note(client, '{orq}:b').note(client, '{other}:c');
    expect([...w.byClient.get(client)!.values()]).toEqual(['{orq}:a', '{other}:c']);
  });

  it('off: the write gets no collector and nothing waits', async () => {
    let given: WrittenKeys | undefined = new WrittenKeys();
    expect(await ReplicaWait.off.confirm(async (w) => ((given = w), 'done'))).toBe('done');
    expect(given).toBeUndefined();
  });
});
