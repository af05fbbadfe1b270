/**
 * One task's events read back from the events stream (the dashboard's task page): only that
 * task's entries (not another task whose id contains it), from its submit time on, up to its end,
 * looking at no more entries than the bound and saying when it stopped there, with long details
 * cut.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventFields, type TaskEventRecord } from '../src/store/codecs/feed-format.js';
import { TaskEventHistoryReader } from '../src/feeds/task-event-history.js';
import { startRedis, type RedisServerHandle } from './helpers/redis-server.js';

const KEY = '{orq}:events';
let server: RedisServerHandle;
let r: Redis;

/** Adds an event at `ms` (the entry id's time, as Redis would stamp it). */
async function add(ms: number, seq: number, e: Partial<TaskEventRecord> & { taskId: string; type: TaskEventRecord['type'] }): Promise<void> {
  await r.xadd(KEY, `${ms}-${seq}`, ...eventFields({ taskClass: 'cpu_short', attempt: 1, atMs: ms, ...e }));
}

beforeAll(async () => {
  server = await startRedis();
  r = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  await add(1_000, 0, { taskId: 'before', type: 'submitted' });
  await add(2_000, 0, { taskId: 't1', type: 'submitted', attempt: 0 });
  await add(2_000, 1, { taskId: 't10', type: 'submitted', attempt: 0 });
  for (let i = 0; i < 1_200; i++) await add(3_000, i, { taskId: `other-${i}`, type: 'started', detail: 't1 mentioned' });
  await add(4_000, 0, { taskId: 't1', type: 'started', workerId: 'pool-1' });
  await add(5_000, 0, { taskId: 't1', type: 'failed', detail: 'x'.repeat(10_000) });
  await add(9_000, 0, { taskId: 't1', type: 'requeued', detail: 'after the end asked for' });
});
afterAll(async () => {
  await r?.quit();
  await server?.stop();
});

describe('task event history', () => {
  it("reads one task's events from its submit time to its end, and nothing of other tasks", async () => {
    const reader = new TaskEventHistoryReader({ redis: r, eventsKeyOf: () => KEY, maxDetailChars: 100 });
    const h = await reader.read('t1', 'c', 2_000, 6_000);
    expect(h.incomplete).toBe(false);
    expect(h.events.map((e) => [e.id, e.type])).toEqual([
      ['2000-0', 'submitted'],
      ['4000-0', 'started'],
      ['5000-0', 'failed'],
    ]);
    expect(h.events[1]!.workerId).toBe('pool-1');
    expect(h.events[2]!.detail).toHaveLength(100 + '… (cut)'.length);
    // No end: up to now.
    expect((await reader.read('t1', 'c', 2_000, 0)).events.map((e) => e.type)).toEqual(['submitted', 'started', 'failed', 'requeued']);
  });

  it('looks at no more entries than its bound, and says so', async () => {
    const reader = new TaskEventHistoryReader({ redis: r, eventsKeyOf: () => KEY, maxScannedEntries: 600 });
    const h = await reader.read('t1', 'c', 2_000, 6_000);
    expect(h.incomplete).toBe(true);
    expect(h.events.map((e) => e.type)).toEqual(['submitted']);
    expect(await reader.read('nobody', 'c', 0, 0)).toEqual({ events: [], incomplete: true });
    expect(await new TaskEventHistoryReader({ redis: r, eventsKeyOf: () => KEY }).read('nobody', 'c', 0, 0)).toEqual({ events: [], incomplete: false });
  });
});
