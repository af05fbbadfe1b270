/**
 * Retention by bytes (retention.maxFinishedBytes): finished tasks of every class together are
 * kept within a byte bound, estimated from sampled MEMORY USAGE, the oldest going first across
 * classes, with their index and task-list entries, while each class's keepCompleted count alone
 * would keep them all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import type { TaskInput } from '../src/client/orchestrator-client.js';
import { TASK_ENTRY_BYTES } from '../src/tasks/task-retention.js';
import { grpcError } from './helpers/grpc.js';
import { OPEN_POLICY, startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';
import { countIndexedTasks } from '../src/store/tasks/read-task-index.js';

const MAX_BYTES = 2 << 20;
/** 4 KiB payloads, echoed as results: about 9 KiB per finished task. */
const PAYLOAD = 'p'.repeat(4 << 10);
const OLD = 300;
const NEW = 120;

// One slot per class, so tasks finish in the order they were submitted.
const TOML = `${TEST_CONFIG_TOML}
[retention]
sweepIntervalMs = 100
maxFinishedBytes = ${MAX_BYTES}
[classes.old_ones]
policy = ${OPEN_POLICY}
concurrency = 1
attempts = 1
inProcessHandlers = true
[classes.new_ones]
policy = ${OPEN_POLICY}
concurrency = 1
attempts = 1
inProcessHandlers = true
`;

let sys: TestSystem;
beforeAll(async () => {
  sys = await startSystem({ toml: TOML });
  await sys.startPool({ classes: 'old_ones,new_ones' });
});
afterAll(async () => sys?.stop());

const tasks = (cls: string, n: number): TaskInput[] =>
  Array.from({ length: n }, (_, i) => ({ taskId: `${cls}-${i}`, taskClass: cls, payload: { i: String(i), pad: PAYLOAD } }));

/** The exact bytes of the finished tasks still in Redis: MEMORY USAGE of every job, plus its entries. */
async function finishedBytes(): Promise<{ bytes: number; ids: string[] }> {
  const ids: string[] = [];
  let bytes = 0;
  for (const cls of ['old_ones', 'new_ones']) {
    const set = sys.keys.job(cls, 'completed');
    for (const id of await sys.r.zrange(set, 0, -1)) {
      ids.push(id);
      bytes += Number(await sys.r.memory('USAGE', sys.keys.job(cls, id), 'SAMPLES', 0)) + TASK_ENTRY_BYTES;
    }
  }
  return { bytes, ids };
}

describe('retention.maxFinishedBytes', () => {
  it('keeps finished tasks within the byte bound, removing the oldest first across classes', { timeout: 90_000 }, async () => {
    const completed = async (cls: string) => Number((await sys.r.hget(sys.keys.counters, `succeeded:${cls}`)) ?? 0);
    await sys.client.submitTasks(tasks('old_ones', OLD));
    await waitFor(async () => (await completed('old_ones')) === OLD, { timeoutMs: 60_000, message: 'old tasks never finished' });
    await sys.client.submitTasks(tasks('new_ones', NEW));
    await waitFor(async () => (await completed('new_ones')) === NEW, { timeoutMs: 60_000, message: 'new tasks never finished' });

    // Settles within the bound (the estimate samples 8 jobs per class: allow it 10 %): the same
    // tasks kept over three sweeps in a row.
    let last = -1;
    const settled = (await waitFor(
      async () => {
        const f = await finishedBytes();
        const stable = f.ids.length === last && f.bytes <= MAX_BYTES * 1.1;
        last = f.ids.length;
        return stable ? f : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 300, message: 'finished tasks never settled within the byte bound' },
    ))!;
    // ... without removing far more than it had to (a task is about 9 KiB).
    expect(settled.bytes).toBeGreaterThan(MAX_BYTES * 0.8);
    const kept = new Set(settled.ids);
    expect(kept.size).toBeLessThan(OLD + NEW);

    // The newest are kept: every new task, and of the old ones a run up to the last.
    for (let i = 0; i < NEW; i++) expect(kept.has(`new_ones-${i}`)).toBe(true);
    const keptOld = [...kept].filter((id) => id.startsWith('old_ones-')).map((id) => Number(id.split('-')[1]));
    const firstKept = Math.min(...keptOld);
    expect(keptOld.sort((a, b) => a - b)).toEqual(Array.from({ length: OLD - firstKept }, (_, i) => firstKept + i));
    expect(firstKept).toBeGreaterThan(0);

    // Removed with their own entries: the index and task lists hold exactly what is kept.
    expect(await countIndexedTasks(sys.r, sys.keys)).toBe(kept.size);
    expect((await sys.r.xlen(sys.keys.taskList('old_ones'))) + (await sys.r.xlen(sys.keys.taskList('new_ones')))).toBe(kept.size);
    expect((await grpcError(sys.client.getTaskStatus('old_ones-0'))).code).toBe(status.NOT_FOUND);
    expect((await sys.client.getTaskStatus(`old_ones-${OLD - 1}`)).resultJson).toContain(PAYLOAD);
  });
});
