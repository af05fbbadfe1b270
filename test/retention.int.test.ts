/**
 * Retention under a steady load: 20,000 tasks flow through a class that keeps 200 completed and
 * 100 failed tasks, and Redis's key count and the task index stay under a bound derived from
 * those counts and the number of tasks in flight, instead of growing with every task. Tasks
 * whose job is gone (removed by hand, or cancelled while queued by an older version) are
 * forgotten after the orphan grace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState, type TaskInput } from '../src/client/orchestrator-client.js';
import { OPEN_POLICY, startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';
import { countIndexedTasks, taskIndexBuckets } from '../src/store/tasks/read-task-index.js';

const KEEP_COMPLETED = 200;
const KEEP_FAILED = 100;
const TOTAL = 20_000;
const BATCH = 500;
/** Most tasks submitted and not yet finished at any time. */
const IN_FLIGHT = 1_500;
/**
 * Tasks that may finish between two sweeps (200 ms apart, plus the sweep itself) on a loaded
 * machine: 32 in-process handlers finish a few thousand tasks a second, and a CI machine running
 * three suites at once delayed a sweep long enough for 4,700. Generous, yet the bounds stay under
 * 40% of what 20,000 tasks leave without retention.
 */
const SWEEP_SLACK = 6_000;

const TOML = `${TEST_CONFIG_TOML}
[retention]
sweepIntervalMs = 200
[classes.flow]
policy = ${OPEN_POLICY}
concurrency = 32
attempts = 1
inProcessHandlers = true
keepCompleted = { count = ${KEEP_COMPLETED}, ageMs = 0 }
keepFailed = { count = ${KEEP_FAILED}, ageMs = 0 }
`;

let sys: TestSystem;

async function counts(): Promise<{ submitted: number; finished: number }> {
  const [s, ok, failed] = await sys.r.hmget(sys.keys.counters, 'submitted:flow', 'succeeded:flow', 'failed:flow');
  return { submitted: Number(s ?? 0), finished: Number(ok ?? 0) + Number(failed ?? 0) };
}

/** Keys in Redis but the task index's buckets (a fixed number of keys, however many tasks). */
async function keysBesideIndex(): Promise<number> {
  const [all, buckets] = await Promise.all([sys.r.dbsize(), sys.r.exists(...taskIndexBuckets(sys.keys))]);
  return all - buckets;
}

describe('retention', () => {
  beforeAll(async () => {
    sys = await startSystem({ toml: TOML });
    await sys.startPool({ classes: 'flow' });
  });
  afterAll(async () => sys?.stop());

  it('keeps Redis bounded while 20,000 tasks flow through', { timeout: 170_000 }, async () => {
    const baseline = await keysBesideIndex();
    // One job hash per retained or unfinished task, a lock and a final record per running one,
    // plus the class's own structures (its queue's sets and lists, its task list).
    const keyBound = baseline + 50 + KEEP_COMPLETED + KEEP_FAILED + 2 * IN_FLIGHT + SWEEP_SLACK;
    const indexBound = KEEP_COMPLETED + KEEP_FAILED + IN_FLIGHT + SWEEP_SLACK;
    let maxKeys = 0;
    let maxIndex = 0;
    const sample = async () => {
      const [keys, index] = await Promise.all([keysBesideIndex(), countIndexedTasks(sys.r, sys.keys)]);
      maxKeys = Math.max(maxKeys, keys);
      maxIndex = Math.max(maxIndex, index);
    };

    for (let b = 0; b < TOTAL / BATCH; b++) {
      await waitFor(
        async () => {
          await sample();
          const c = await counts();
          return c.submitted - c.finished <= IN_FLIGHT - BATCH;
        },
        { timeoutMs: 60_000, intervalMs: 20, message: `batch ${b}: tasks in flight never dropped` },
      );
      const tasks = Array.from({ length: BATCH }, (_, i): TaskInput =>
        i % 10 === 0
          ? { taskId: `rf-${b}-${i}`, taskClass: 'flow', payload: { retryable: 'false' }, executor: { handler: 'fail' } }
          : { taskId: `rf-${b}-${i}`, taskClass: 'flow', payload: { i: String(i) } },
      );
      await sys.client.submitTasks(tasks);
      await sample();
    }
    await waitFor(async () => (await counts()).finished === TOTAL, { timeoutMs: 60_000, message: 'not every task finished' });

    expect(maxKeys).toBeLessThanOrEqual(keyBound);
    expect(maxIndex).toBeLessThanOrEqual(indexBound);
    // Once the flow stops, exactly what retention keeps remains.
    await waitFor(async () => (await countIndexedTasks(sys.r, sys.keys)) === KEEP_COMPLETED + KEEP_FAILED, { message: 'the index never settled' });
    expect(await sys.r.xlen(sys.keys.taskList('flow'))).toBe(KEEP_COMPLETED + KEEP_FAILED);
    await waitFor(async () => (await keysBesideIndex()) <= baseline + 50 + KEEP_COMPLETED + KEEP_FAILED, { message: 'the key count never settled' });
    // The newest are the ones kept.
    expect(await sys.r.hexists(sys.keys.taskIndex(`rf-${TOTAL / BATCH - 1}-${BATCH - 1}`), `rf-${TOTAL / BATCH - 1}-${BATCH - 1}`)).toBe(1);
    expect(await sys.r.hexists(sys.keys.taskIndex('rf-0-1'), 'rf-0-1')).toBe(0);
  });
});

describe('tasks whose job is gone', () => {
  let orphans: TestSystem;
  beforeAll(async () => {
    orphans = await startSystem({ toml: `${TEST_CONFIG_TOML}\n[retention]\nsweepIntervalMs = 100\norphanGraceMs = 1000\n` });
  });
  afterAll(async () => orphans?.stop());

  it('answers cancelled for a cancelled task whose job is gone, then forgets it after the grace', async () => {
    // No pool serves cpu_long: the tasks stay queued until cancelled.
    const ids = Array.from({ length: 20 }, (_, i) => `orphan-${i}`);
    await orphans.client.submitTasks(ids.map((taskId) => ({ taskId, taskClass: 'cpu_long', payload: { n: '1' } })));
    for (const id of ids) await orphans.client.cancelTask(id, 'not needed');
    // A cancel keeps the job as a finished one now; an older version removed it, and a job can be
    // removed by hand (Bull Board). Leave them as those did: job gone, cancel mark kept.
    for (const id of ids) {
      await orphans.r.multi().del(orphans.keys.job('cpu_long', id)).zrem(orphans.keys.job('cpu_long', 'failed'), id).exec();
    }
    expect((await orphans.client.getTaskStatus('orphan-0')).state).toBe(TaskState.TASK_STATE_CANCELLED);
    await waitFor(async () => (await countIndexedTasks(orphans.r, orphans.keys)) === 0, { message: 'cancelled tasks were never forgotten' });
    expect(await orphans.r.xlen(orphans.keys.taskList('cpu_long'))).toBe(0);
    expect(await orphans.r.hlen(orphans.keys.cancel)).toBe(0);
  });
});
