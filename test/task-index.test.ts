/**
 * The task index's layout (src/store/keys.ts, src/store/codecs/task-index.ts): the bucket of an
 * id is the documented FNV-1a that a client reading Redis directly computes too, the digest kept
 * is a prefix of the previous versions' longer one, and a value written by a previous version
 * still reads and still counts as the same content.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { resolveTaskClasses } from '../queues/task-classes.js';
import { decodeTaskIndex, encodeTaskIndex, entryMs, sameTaskIndex, submittedMs, TASK_DIGEST_CHARS } from '../src/store/codecs/task-index.js';
import { keys as makeKeys, TASK_INDEX_BUCKETS, taskIndexBucket } from '../src/store/keys.js';
import { scriptSource } from '../src/store/store-script.js';
import { resolveTask } from '../src/tasks/task-spec.js';

/** The keys.ts doc comment's Python, in TypeScript over bytes: the reference the fast path must match. */
function fnv1a(id: string): number {
  let h = 0x811c9dc5n;
  for (const b of Buffer.from(id, 'utf8')) h = ((h ^ BigInt(b)) * 0x01000193n) & 0xffffffffn;
  return Number(h % BigInt(TASK_INDEX_BUCKETS));
}

describe('task index buckets', () => {
  it('put an id where the documented FNV-1a says (values computed with the Python in keys.ts)', () => {
    expect(taskIndexBucket('abc')).toBe(2315);
    expect(taskIndexBucket('task-1')).toBe(1094);
    expect(taskIndexBucket('é-x')).toBe(3508);
    expect(taskIndexBucket('')).toBe(3525);
    for (const id of ['a', 'Zz9', 'run-1.step_a', 'x'.repeat(128), 'AbCdEfGhIjKlMnOpQrStUv']) expect(taskIndexBucket(id)).toBe(fnv1a(id));
  });

  it('spread ids evenly enough that 350,000 tasks keep every bucket a listpack (<= 128 entries)', () => {
    const counts = new Uint32Array(TASK_INDEX_BUCKETS);
    const n = 350_000;
    for (let i = 0; i < n; i++) counts[taskIndexBucket(`job-${i}`)]!++;
    const max = Math.max(...counts);
    expect(max).toBeLessThanOrEqual(128);
    expect(Math.min(...counts)).toBeGreaterThan(0);
  });

  it('are keys of the shared hash tag, numbered 0..TASK_INDEX_BUCKETS-1', () => {
    const k = makeKeys('orq');
    expect(k.taskIndex('abc')).toBe('{orq}:ix:2315');
    expect(k.taskIndexBucket(0)).toBe('{orq}:ix:0');
    expect(k.legacyTaskIndex).toBe('{orq}:tasks');
  });
});

describe('task index values', () => {
  const classes = resolveTaskClasses({ cpu_short: {} });
  const task = resolveTask({ taskClass: 'cpu_short', taskId: 't1', payload: { a: 'b' } }, { classes, maxPayloadBytes: 100, field: 'task' });

  it('keep a digest of TASK_DIGEST_CHARS base64url characters, the prefix of the whole SHA-1 the previous versions kept', () => {
    expect(task.digest).toMatch(new RegExp(`^[A-Za-z0-9_-]{${TASK_DIGEST_CHARS}}$`));
    // The previous versions' digest: the whole SHA-1 of the same canonical content, 27 chars.
    const canonical = JSON.stringify(['cpu_short', [['a', 'b']], 0, '', 0, null, 0, 0, { kind: 'handler', name: 'echo' }]);
    const whole = createHash('sha1').update(canonical).digest('base64url');
    expect(whole).toHaveLength(27);
    expect(whole.startsWith(task.digest)).toBe(true);
  });

  it('read the class and digest first and second; a previous version’s value is the same content', () => {
    const value = encodeTaskIndex(task);
    expect(value).toBe(`cpu_short\t${task.digest}`);
    expect(decodeTaskIndex(value)).toEqual({ taskClass: 'cpu_short', digest: task.digest, listEntry: '', claimedMs: '' });
    // As stored: the submit script appends the task's list entry, whose ms is its submit time.
    const stored = `${value}\t1765000000123-4`;
    expect(decodeTaskIndex(stored)).toEqual({ taskClass: 'cpu_short', digest: task.digest, listEntry: '1765000000123-4', claimedMs: '' });
    expect(submittedMs(decodeTaskIndex(stored))).toBe(1765000000123);
    // Claimed on a Redis Cluster, its task not yet listed: the claim's ms stands for the submit time.
    const claimed = `${value}\t\t1765000000100`;
    expect(decodeTaskIndex(claimed)).toEqual({ taskClass: 'cpu_short', digest: task.digest, listEntry: '', claimedMs: '1765000000100' });
    expect(submittedMs(decodeTaskIndex(claimed))).toBe(1765000000100);
    expect(sameTaskIndex(claimed, value)).toBe(true);
    expect(submittedMs(decodeTaskIndex(`${value}\t\tsoon`))).toBeUndefined();
    expect(entryMs(decodeTaskIndex(stored).listEntry)).toBe(1765000000123);
    expect(entryMs('')).toBeUndefined();
    expect(entryMs('12x-3')).toBeUndefined();
    expect(sameTaskIndex(stored, value)).toBe(true);
    const legacy = `cpu_short\t${task.digest}abcdefghijklmno`;
    expect(sameTaskIndex(`${legacy}\t1765000000123-0`, value)).toBe(true);
    expect(decodeTaskIndex(legacy).taskClass).toBe('cpu_short');
    expect(sameTaskIndex(legacy, value)).toBe(true);
    expect(sameTaskIndex(value, value)).toBe(true);
    expect(sameTaskIndex(`cpu_short\tOTHERdigest1`, value)).toBe(false);
    // Another class whose name starts with this one's is another value.
    expect(sameTaskIndex(`cpu_short2\t${task.digest}`, value)).toBe(false);
    // A field added at the end (the codec's contract) keeps the value the same content.
    expect(sameTaskIndex(`${stored}\tmore`, value)).toBe(true);
    expect(decodeTaskIndex(`${stored}\tmore`).listEntry).toBe('1765000000123-4');
  });

  it('are compared by prefix in the submit and claim scripts, as sameTaskIndex does', () => {
    expect(scriptSource('tasks/submit-tasks')).toContain('string.sub(v, 1, #indexValue) ~= indexValue');
    expect(scriptSource('tasks/claim-task-ids')).toContain('string.sub(v, 1, #value) ~= value');
  });
});
