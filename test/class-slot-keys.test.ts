/**
 * The contract the Redis Cluster layout turns on: each class has a hash tag of its own
 * (`{<prefix>:<class>}`), so every per-task script must be given keys of that one tag, or Redis
 * Cluster refuses it (CROSSSLOT). The keys are built here as the cluster layout builds them, and
 * every KEYS list the per-task scripts get for one task is checked for a single tag.
 *
 * No key spans classes in those lists any more: the cross-class task index is claimed and settled
 * in scripts of its own slots (src/store/tasks/submit-tasks.ts submitApart), a workflow step's
 * state is checked by the engine after its task is submitted (mark-queued), and a schedule's last
 * tick is kept in its class's hash. A shared key in a per-task script fails this test.
 */
import { QueueKeys } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { classOfStream, keys as keyLayout, TASK_INDEX_SLOTS, taskIndexBucket, taskPartition } from '../src/store/keys.js';
import { parseFeedCursor, encodeFeedCursor } from '../src/feeds/feed-cursor.js';
import { partitionShare, workerConcurrency } from '../src/tasks/partition-share.js';
import { loadConfig } from '../src/config/config.js';
import { keysFor } from '../src/store/keys-for.js';
import { hashTag } from '../src/redis/hash-tag.js';
import { outcomeKeys } from '../src/store/outcome-writes.js';
import { backendKeys } from '../src/store/bullmq/task-backend.js';
import { startAttemptKeys } from '../src/store/tasks/start-attempts.js';
import { cancelQueuedKeys } from '../src/store/tasks/cancel-queued.js';
import { requeueFailedKeys } from '../src/store/tasks/requeue-failed.js';
import { forgetClassKeys } from '../src/store/tasks/forget-tasks.js';
import { bucketKeys } from '../src/store/tasks/index-slots.js';
import { groupBy } from '../src/store/group-by.js';
import { submitCall, type SubmitEntry } from '../src/store/tasks/submit-tasks.js';

const k = keyLayout('orq', { cluster: true });

/** BullMQ's own keys of a class's queue, under the queue prefix the class's tag gives. */
const queueKeys = (taskClass: string): Record<string, string> => new QueueKeys(k.queuePrefixOf(taskClass)).getKeys(taskClass);

/** The hash tags of `list` but `except`, and what of `except` it held. */
function tagsOf(list: readonly string[], except: readonly string[] = []): { tags: string[]; shared: string[] } {
  return {
    tags: [...new Set(list.filter((key) => !except.includes(key)).map(hashTag))],
    shared: [...new Set(list.filter((key) => except.includes(key)))].sort(),
  };
}

function entry(taskId: string, taskClass: string, extra: Partial<SubmitEntry> = {}): SubmitEntry {
  return {
    taskId,
    indexValue: `${taskClass}\tdigest`,
    taskClass,
    queueKeys: queueKeys(taskClass),
    delayMs: 0,
    job: { name: taskId, timestamp: 0, data: '{}', opts: '{}' },
    ...extra,
  };
}

describe('per-task scripts with a hash tag per class', () => {
  it('the test layout gives each class its own tag, and its job key is the one BullMQ builds', () => {
    expect(hashTag(k.taskList('cpu_short'))).toBe('orq:cpu_short');
    expect(hashTag(k.taskList('gpu'))).toBe('orq:gpu');
    expect(k.job('cpu_short', 't1')).toBe(`${queueKeys('cpu_short')['']}t1`);
  });

  it('submit: a task of each kind gets its class keys of one tag, and nothing else', () => {
    const kinds: [string, SubmitEntry][] = [
      ['plain', entry('t1', 'cpu_short')],
      ['delayed', entry('t2', 'cpu_short', { delayMs: 500, job: { args: Buffer.from('x'), name: 't2', timestamp: 0, data: '{}', opts: '{}' } })],
      ['scheduled', entry('t3', 'cpu_short', { scheduleId: 's1', scheduleTickMs: 1_000 })],
      ['workflow step', entry('r1.a', 'cpu_short', { workflowId: 'r1' })],
    ];
    for (const [kind, e] of kinds) {
      const { keyList } = submitCall(k, 1_000, [e]);
      expect(tagsOf(keyList).tags, kind).toEqual(['orq:cpu_short']);
      expect(keyList, kind).toContain(k.schedulesLastOf('cpu_short'));
      // Every class key the script writes for the task is in the list: its counters among them.
      expect(keyList, kind).toEqual(
        expect.arrayContaining([k.taskList('cpu_short'), k.eventsOf('cpu_short'), k.countersOf('cpu_short'), k.cancelOf('cpu_short')]),
      );
      expect(
        keyList.some((key) => key.includes(':ix:')),
        kind,
      ).toBe(false);
    }
  });

  it('outcome writes, start, finish, retry and stall of a class take its keys only', () => {
    const q = Object.values(queueKeys('gpu'));
    const ours = backendKeys(k, 'gpu');
    const lists: [string, string[]][] = [
      ['outcome writes', outcomeKeys(k, 'gpu')],
      ['move-to-active', [...q, ...ours.active]],
      ['move-to-finished / finish-plain-job', [...q, ...ours.finish]],
      ['move-to-delayed / retry-job', [...q, ...ours.retry]],
      ['move-stalled', [...q, ...ours.stalled]],
      ['start-attempts', startAttemptKeys(k, 'gpu')],
    ];
    for (const [script, list] of lists) expect(tagsOf(list).tags, script).toEqual(['orq:gpu']);
    expect(ours.finish).toEqual(expect.arrayContaining([k.countersOf('gpu'), k.workflowInboxOf('gpu'), k.cancelOf('gpu')]));
  });

  it('cancel-queued, requeue-failed and forgetting take the task class keys only; the index goes by its own slots', () => {
    const job = { taskId: 't9', taskClass: 'cpu_long', jobKey: k.job('cpu_long', 't9'), queueKeys: queueKeys('cpu_long'), lifo: false };
    expect(tagsOf(cancelQueuedKeys(k, job, 'cpu_long')).tags).toEqual(['orq:cpu_long']);
    expect(tagsOf(requeueFailedKeys(k, job)).tags).toEqual(['orq:cpu_long']);
    expect(tagsOf(forgetClassKeys(k, 'cpu_long')).tags).toEqual(['orq:cpu_long']);
    // The index's scripts (claim, settle, forget) take one slot's buckets per call.
    const ids = Array.from({ length: 200 }, (_, i) => `t${i}`);
    const slots = groupBy(ids, (id) => hashTag(k.taskIndex(id)));
    expect(slots.size).toBe(TASK_INDEX_SLOTS);
    for (const group of slots.values()) expect(tagsOf(bucketKeys(k, group).keyList).tags).toHaveLength(1);
    expect([...slots.keys()].every((tag) => tag.startsWith('orq:ix:'))).toBe(true);
  });

  it('a class workflow inbox and its dead letters share the class tag', () => {
    const [legacy, ...perClass] = k.workflowInboxes(['cpu_short', 'gpu']);
    expect(legacy).toEqual({ key: k.workflowInbox, dead: k.workflowInboxDead });
    expect(perClass.map((i) => [hashTag(i.key), hashTag(i.dead)])).toEqual([
      ['orq:cpu_short', 'orq:cpu_short'],
      ['orq:gpu', 'orq:gpu'],
    ]);
  });
});

describe('hashTag', () => {
  it('is what Redis Cluster hashes: the first non-empty {...}, else the whole key', () => {
    expect(['{orq}:events', '{orq:gpu}:q:gpu:t1', 'plain', '{}:x{y}', 'a{b}{c}'].map(hashTag)).toEqual(['orq', 'orq:gpu', 'plain', '{}:x{y}', 'b']);
  });
});

describe('key names', () => {
  it('a single Redis keeps one counters hash, cancel hash and workflow inbox for every class', () => {
    const one = keyLayout('orq');
    expect([one.countersOf('gpu'), one.cancelOf('gpu'), one.workflowInboxOf('gpu')]).toEqual(['{orq}:counters', '{orq}:cancel', '{orq}:wf:inbox']);
    expect(one.counterKeys(['gpu', 'cpu_short'])).toEqual(['{orq}:counters']);
    expect(one.workflowInboxes(['gpu'])).toEqual([{ key: '{orq}:wf:inbox', dead: '{orq}:wf:inbox:dead' }]);
    expect(one.queuePrefixOf('gpu')).toBe(one.queuePrefix);
    expect(one.job('gpu', 't1')).toBe('{orq}:q:gpu:t1');
    expect([one.taskIndexBucket(4095), one.cluster]).toEqual(['{orq}:ix:4095', false]);
  });

  it('a cluster gives each class its own tag, {<prefix>:<class>}; what spans classes keeps {<prefix>}', () => {
    const c = keyLayout('orq', { cluster: true });
    // The index's buckets spread over 16 tags, apart from every class.
    expect([c.taskIndexBucket(4095), c.taskIndexBucket(17), c.cluster]).toEqual(['{orq:ix:15}:ix:4095', '{orq:ix:1}:ix:17', true]);
    expect([c.countersOf('gpu'), c.cancelOf('gpu'), c.workflowInboxOf('gpu'), c.schedulesLastOf('gpu')]).toEqual([
      '{orq:gpu}:counters:gpu',
      '{orq:gpu}:cancel:gpu',
      '{orq:gpu}:inbox:gpu',
      '{orq:gpu}:schedules:last:gpu',
    ]);
    expect(c.counterKeys(['gpu'])).toEqual(['{orq}:counters', '{orq:gpu}:counters:gpu']);
    expect(c.workflowInboxes(['gpu'])).toEqual([
      { key: '{orq}:wf:inbox', dead: '{orq}:wf:inbox:dead' },
      { key: '{orq:gpu}:inbox:gpu', dead: '{orq:gpu}:inbox:gpu:dead' },
    ]);
    expect([c.queuePrefixOf('gpu'), c.job('gpu', 't1'), c.taskList('gpu'), c.eventsOf('gpu'), c.resultsOf('gpu')]).toEqual([
      '{orq:gpu}:q',
      '{orq:gpu}:q:gpu:t1',
      '{orq:gpu}:list:gpu',
      '{orq:gpu}:events:gpu',
      '{orq:gpu}:results:gpu',
    ]);
    // Spanning classes: pools, runs, schedules' records, workflow events, locks.
    expect([c.pools, c.run('r1'), c.schedules, c.workflowEvents, c.retentionLock].map(hashTag)).toEqual(['orq', 'orq', 'orq', 'orq', 'orq']);
  });
});

describe('a partitioned class (classes.<name>.partitions on a cluster)', () => {
  const pk = keyLayout('orq', { cluster: true, partitions: new Map([['hot', 3]]) });
  /** BullMQ's keys of partition `p`'s queue. */
  const partQueue = (p: number): Record<string, string> => new QueueKeys(pk.queuePrefixOf('hot', p)).getKeys('hot');
  const ids = Array.from({ length: 300 }, (_, i) => `h-${i}`);

  it('places a task by FNV-1a of its id (the index bucket) mod N, each partition on a tag of its own', () => {
    expect(pk.partitions('hot')).toEqual([0, 1, 2]);
    expect(pk.partitionCount('cpu_short')).toBe(1);
    for (const id of ids) expect(pk.partitionOf('hot', id)).toBe(taskIndexBucket(id) % 3);
    const byPart = groupBy(ids, (id) => String(pk.partitionOf('hot', id)));
    // 300 ids land on all three, none with fewer than a fifth.
    expect([...byPart.keys()].sort()).toEqual(['0', '1', '2']);
    for (const group of byPart.values()) expect(group.length).toBeGreaterThan(60);
    expect([0, 1, 2].map((p) => hashTag(pk.taskList('hot', p)))).toEqual(['orq:hot', 'orq:hot:1', 'orq:hot:2']);
    expect(taskPartition('anything', 1)).toBe(0);
  });

  it('every per-task key of a task is in its partition slot', () => {
    for (const id of ids.slice(0, 30)) {
      const p = pk.partitionOf('hot', id);
      const tag = p === 0 ? 'orq:hot' : `orq:hot:${p}`;
      const q = partQueue(p);
      const e: SubmitEntry = {
        taskId: id,
        indexValue: 'hot\td',
        taskClass: 'hot',
        queueKeys: q,
        delayMs: 0,
        job: { name: id, timestamp: 0, data: '{}', opts: '{}' },
      };
      const ours = backendKeys(pk, 'hot', p);
      const job = { taskId: id, taskClass: 'hot', jobKey: pk.job('hot', id), queueKeys: q, lifo: false };
      const lists: [string, string[]][] = [
        ['submit', submitCall(pk, 1_000, [e]).keyList],
        ['job', [pk.job('hot', id), `${q['']}${id}`, `${pk.jobPrefix('hot', p)}${id}`]],
        ['finish', [...Object.values(q), ...ours.finish, ...ours.active, ...ours.retry, ...outcomeKeys(pk, 'hot', p)]],
        ['start-attempts', startAttemptKeys(pk, 'hot', p)],
        ['cancel-queued', cancelQueuedKeys(pk, job, 'hot')],
        ['requeue-failed', requeueFailedKeys(pk, job)],
        ['forget', forgetClassKeys(pk, 'hot', p)],
        ['schedule tick', [pk.schedulesLastOf('hot', p), pk.workflowInboxOf('hot', p), pk.cancelOf('hot', p)]],
      ];
      for (const [what, list] of lists) expect(tagsOf(list).tags, `${what} of ${id}`).toEqual([tag]);
      expect(pk.job('hot', id)).toBe(`${q['']}${id}`);
    }
    // A batch over partitions is one submit call per partition (submitApart groups by tag).
    const batch = ids.slice(0, 12).map((id) => ({ id, p: pk.partitionOf('hot', id) }));
    for (const group of groupBy(batch, (b) => String(b.p)).values()) {
      const entries = group.map(({ id, p }): SubmitEntry => ({ ...entry(id, 'hot'), queueKeys: partQueue(p) }));
      expect(tagsOf(submitCall(pk, 1_000, entries).keyList).tags).toHaveLength(1);
    }
  });

  it('readers see every partition: feeds named <class>.<p> in cursors, counters and inboxes per partition', () => {
    expect(pk.resultStreams(['hot']).map((s) => s.name)).toEqual(['hot', 'hot.1', 'hot.2']);
    expect(pk.eventStreams(['hot']).map((s) => [s.name, hashTag(s.key)])).toEqual([
      ['', 'orq'],
      ['hot', 'orq:hot'],
      ['hot.1', 'orq:hot:1'],
      ['hot.2', 'orq:hot:2'],
    ]);
    expect(pk.eventStreams(['hot']).map((s) => classOfStream(s.name))).toEqual(['', 'hot', 'hot', 'hot']);
    expect(pk.eventsNamed('hot.2')).toBe(pk.eventsOf('hot', 2));
    expect([pk.eventsNamed('hot.3'), pk.eventsNamed('hot.0'), pk.eventsNamed('')]).toEqual([undefined, undefined, pk.workflowEvents]);
    expect(pk.counterKeys(['hot']).map(hashTag)).toEqual(['orq', 'orq:hot', 'orq:hot:1', 'orq:hot:2']);
    expect(pk.workflowInboxes(['hot']).map((i) => hashTag(i.key))).toEqual(['orq', 'orq:hot', 'orq:hot:1', 'orq:hot:2']);
    // A composite cursor names each partition's stream and resumes it.
    const names = new Set(['', 'hot', 'hot.1', 'hot.2']);
    const cursor = encodeFeedCursor(
      new Map([
        ['hot', '5-0'],
        ['hot.2', '7-1'],
      ]),
    );
    expect(parseFeedCursor('cursor', cursor, names)).toEqual({
      kind: 'per-stream',
      ids: new Map([
        ['hot', '5-0'],
        ['hot.2', '7-1'],
      ]),
    });
    expect(() => parseFeedCursor('cursor', encodeFeedCursor(new Map([['hot.3', '1-0']])), names)).toThrow(/does not have/);
    expect(pk.partitionOfQueuePrefix('hot', pk.queuePrefixOf('hot', 2))).toBe(2);
    expect(pk.partitionOfQueuePrefix('hot', '{orq:other}:q')).toBeUndefined();
  });

  it('one partition is exactly the unpartitioned layout, and a single Redis ignores partitions', () => {
    const one = keyLayout('orq', { cluster: true, partitions: new Map([['gpu', 1]]) });
    expect([one.queuePrefixOf('gpu'), one.job('gpu', 't1'), one.eventsOf('gpu'), one.resultStreams(['gpu'])]).toEqual([
      '{orq:gpu}:q',
      '{orq:gpu}:q:gpu:t1',
      '{orq:gpu}:events:gpu',
      [{ name: 'gpu', key: '{orq:gpu}:results:gpu' }],
    ]);
    const single = keyLayout('orq', { partitions: new Map([['hot', 3]]) });
    expect([single.partitionCount('hot'), single.job('hot', 'h-1'), single.queuePrefixOf('hot', 0)]).toEqual([1, '{orq}:q:hot:h-1', '{orq}:q']);
  });

  it('classes.<name>.partitions: 1..64, default 1, handed to the key layout by keysFor on a cluster only', () => {
    const config = loadConfig({ env: {}, overrides: { classes: { hot: { partitions: 3 } } } });
    expect([config.classes.get('hot')!.partitions, config.classes.get('cpu_short')!.partitions]).toEqual([3, 1]);
    for (const bad of [0, 65, 1.5])
      expect(() => loadConfig({ env: {}, overrides: { classes: { hot: { partitions: bad } } } })).toThrow(/classes\.hot\.partitions/);
    expect(keysFor('orq', 'redis://127.0.0.1:7000,127.0.0.1:7001', config.classes).partitionCount('hot')).toBe(3);
    expect(keysFor('orq', 'redis://127.0.0.1:7000', config.classes).partitionCount('hot')).toBe(1);
  });

  it('class-wide caps split over partitions add up to the cap; a pool serves every partition', () => {
    for (const [total, n] of [
      [10, 3],
      [3, 3],
      [64, 7],
      [0, 3],
    ] as const) {
      const shares = Array.from({ length: n }, (_, p) => partitionShare(total, n, p));
      expect(shares.reduce((a, b) => a + b, 0)).toBe(total);
      expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
    }
    expect([0, 1, 2].map((p) => workerConcurrency(16, 3, p))).toEqual([6, 5, 5]);
    expect([0, 1, 2].map((p) => workerConcurrency(1, 3, p))).toEqual([1, 1, 1]);
  });
});
