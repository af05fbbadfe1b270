/**
 * The whole system on a Redis Cluster of three masters (test/helpers/redis-cluster.ts), given to
 * every process as REDIS_URL with several hosts: the core contract a client relies on (submit one
 * and many, status, results and events streamed and resumed from a cursor, ListTasks, cancel,
 * a workflow, a schedule) holds there as on one Redis. The cpu_short pool runs on another host (a
 * network namespace of the suite's own lab, test/helpers/netns.ts), reaching the cluster over
 * the lab's bridge only.
 *
 * A class split into three partitions (`hot`, classes.hot.partitions = 3) runs there too: its
 * partitions on three masters, tasks spread over them by id, every operation finding each one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState, WorkflowRunState, type TaskInput } from '../src/client/orchestrator-client.js';
import { createNetnsLab, type NetnsHost, type NetnsLab } from './helpers/netns.js';
import { startRedisCluster, type RedisClusterHandle } from './helpers/redis-cluster.js';
import { startSystem, TEST_CONFIG_TOML, OPEN_POLICY, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';
import { Redis } from 'ioredis';
import { decodeTaskIndex, entryMs } from '../src/store/codecs/task-index.js';
import { taskIndexBucket } from '../src/store/keys.js';
import { TaskQueues } from '../src/tasks/task-queues.js';
import { TaskRetention } from '../src/tasks/task-retention.js';
import { createLogger } from '../src/logging/logger.js';

let lab: NetnsLab;
let remote: NetnsHost;
let cluster: RedisClusterHandle;
let sys: TestSystem<RedisClusterHandle>;
let remotePoolId: string;
/** A class of three partitions, its handlers in the pool's process. */
const HOT_CLASS = `
[classes.hot]
policy = ${OPEN_POLICY}
concurrency = 6
attempts = 1
inProcessHandlers = true
lockDurationMs = 2000
stalledIntervalMs = 1000
partitions = 3
`;
beforeAll(async () => {
  lab = createNetnsLab();
  remote = lab.addHost();
  cluster = await startRedisCluster({ masters: 3, host: lab.hostAddress });
  sys = await startSystem({ redis: cluster, toml: `${TEST_CONFIG_TOML}${HOT_CLASS}` });
  await sys.startPool({ classes: 'inproc:8,hot:6' });
  remotePoolId = (await sys.startPool({ classes: 'cpu_short:4', host: remote })).id;
}, 120_000);
afterAll(async () => {
  try {
    await sys?.stop();
    // Nothing of the suite left on the other host (a killed pool's task children end with it).
    if (remote) await waitFor(() => remote.pids().length === 0, { timeoutMs: 15_000, message: 'processes left on the other host' });
  } finally {
    lab?.remove();
  }
});

const echo = (payload: Record<string, string>, taskClass = 'inproc'): TaskInput => ({ taskClass, payload });

describe('the system on a Redis Cluster', { timeout: 60_000 }, () => {
  it('runs on every master the client is given: the connections follow the cluster, not one node', async () => {
    const views = await cluster.nodes();
    expect(views.filter((n) => n.role === 'master' && n.slots.length > 0)).toHaveLength(3);
    expect((await sys.client.health()).components.find((c) => c.name === 'redis')?.detail ?? '').not.toMatch(/down|unreachable/i);
  });

  it('submits one and many, reports status, delivers results and resumes the events stream from a cursor', async () => {
    const one = await sys.client.submitTask(echo({ n: 'one' }));
    const many = await sys.client.submitTasks([echo({ n: '1' }), echo({ n: '2' }, 'cpu_short'), echo({ n: '3' })]);
    const ids = [one.taskId, ...many.map((t) => t.taskId)];
    for (const id of ids) expect((await sys.client.waitForResult(id, { timeoutMs: 30_000 })).state).toBe(TaskState.TASK_STATE_SUCCEEDED);
    const status = await sys.client.getTaskStatus(many[1]!.taskId);
    expect([status.taskClass, status.state, JSON.parse(status.resultJson)]).toEqual(['cpu_short', TaskState.TASK_STATE_SUCCEEDED, { n: '2' }]);
    // Run on the other host, by the pool there.
    expect(status.workerId).toBe(remotePoolId);

    // Every result, read back once all are done.
    const all: string[] = [];
    for await (const r of sys.client.streamTaskResults({ taskIds: ids, closeWhenDone: true })) all.push(r.taskId);
    expect(all.sort()).toEqual([...ids].sort());

    // A task's events from the start, then from its `started` event's cursor: only what followed.
    const events = async (cursor: string, until: string) => {
      const out: { type: string; cursor: string }[] = [];
      const stream = sys.client.streamEvents({ taskIds: [one.taskId], cursor });
      for await (const e of stream) {
        out.push({ type: e.type, cursor: e.cursor });
        if (e.type === until) break;
      }
      stream.cancel();
      return out;
    };
    const history = await events('0', 'succeeded');
    expect(history.map((e) => e.type)).toEqual(['submitted', 'started', 'succeeded']);
    expect((await events(history[1]!.cursor, 'succeeded')).map((e) => e.type)).toEqual(['succeeded']);
  });

  it('lists tasks newest first across classes and pages by token', async () => {
    const made = await sys.client.submitTasks(Array.from({ length: 5 }, (_, i) => echo({ page: String(i) })));
    for (const t of made) await sys.client.waitForResult(t.taskId, { timeoutMs: 30_000 });
    const first = await sys.client.listTasks({ taskClasses: ['inproc'] }, { pageSize: 3 });
    const second = await sys.client.listTasks({ taskClasses: ['inproc'] }, { pageSize: 3, pageToken: first.nextPageToken });
    const listed = [...first.tasks, ...second.tasks].map((t) => t.taskId);
    // One batch shares its submit time: (time, id) orders it.
    expect(listed.slice(0, 5).sort()).toEqual(made.map((t) => t.taskId).sort());
    expect(new Set(listed).size).toBe(listed.length);
  });

  it('cancels a queued task in a class no pool serves, and refuses a second id in another class', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'gpu', payload: { wait: '1' }, taskId: 'cluster-cancel-1' });
    await sys.client.cancelTask(taskId, 'not needed');
    expect((await sys.client.getTaskStatus(taskId)).state).toBe(TaskState.TASK_STATE_CANCELLED);
    // The mark and the count are the class's own (keys.ts cancelOf, countersOf), none in the shared hashes.
    expect(await sys.r.hget(sys.keys.cancelOf('gpu'), taskId)).toBe('not needed');
    expect(await sys.r.hexists(sys.keys.cancel, taskId)).toBe(0);
    expect(await sys.r.hget(sys.keys.countersOf('gpu'), 'cancelled:gpu')).toBe('1');
    expect(await sys.r.exists(sys.keys.counters)).toBe(0);
    expect((await sys.client.getMetrics()).metrics['tasks_cancelled_total{class="gpu"}']).toBe(1);
    await expect(sys.client.submitTask({ taskClass: 'cpu_short', payload: { other: '1' }, taskId: 'cluster-cancel-1' })).rejects.toThrow(
      /already exists|ALREADY_EXISTS/i,
    );
  });

  it('runs a workflow to the end and fires a schedule', async () => {
    await sys.client.createWorkflow({
      name: 'cluster-chain',
      steps: [
        { stepId: 'a', task: echo({ x: '${inputs.x}' }) },
        { stepId: 'b', dependsOn: ['a'], task: echo({ y: '${steps.a.result.x}' }, 'cpu_short') },
      ],
    });
    const { runId } = await sys.client.startWorkflowRun({ name: 'cluster-chain', inputs: { x: '5' } });
    const run = await sys.client.waitForRun(runId, { timeoutMs: 45_000 });
    expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED);
    expect(JSON.parse(run.steps.find((s) => s.stepId === 'b')!.resultJson)).toEqual({ y: '5' });
    // Each step's outcome went through its class's inbox (read by the engine's group, then
    // acknowledged and deleted), none through the shared one.
    for (const c of ['inproc', 'cpu_short']) {
      const inbox = sys.keys.workflowInboxOf(c);
      await waitFor(
        async () => {
          const [group] = (await sys.r.xinfo('GROUPS', inbox)) as unknown[][];
          const read = Number(group![group!.indexOf('entries-read') + 1]);
          return read >= 1 && (await sys.r.xlen(inbox)) === 0;
        },
        { timeoutMs: 10_000, message: `the ${c} step's outcome never went through its class's inbox` },
      );
    }
    expect(await sys.r.xlen(sys.keys.workflowInbox)).toBe(0);

    await sys.client.createSchedule({ scheduleId: 'cluster-tick', everyMs: 1_000, task: echo({ tick: '1' }) });
    const fired = await waitFor(
      async () => {
        const page = await sys.client.listTasks({ taskClasses: ['inproc'] }, { pageSize: 50 });
        return page.tasks.find((t) => t.state === TaskState.TASK_STATE_SUCCEEDED && t.taskId.includes('cluster-tick'));
      },
      { timeoutMs: 30_000, message: 'the schedule never submitted a task that ran' },
    );
    expect(fired).toBeDefined();
    // Its last tick is kept with its class (keys.ts schedulesLastOf), as GetSchedule reports it.
    const last = await waitFor(async () => {
      const v = await sys.r.hget(sys.keys.schedulesLastOf('inproc'), 'cluster-tick');
      return v && v !== '0\t' ? v : undefined;
    });
    expect(last).toMatch(/^\d+\tcluster-tick\.\d+$/);
    expect(await sys.r.hexists(sys.keys.schedulesLast, 'cluster-tick')).toBe(0);
    const seen = await sys.client.getSchedule('cluster-tick');
    expect(Number(seen.lastRunAtMs)).toBeGreaterThan(0);
    // A change of class takes the last tick along; a delete removes it.
    await sys.client.updateSchedule({ scheduleId: 'cluster-tick', everyMs: 60_000, task: echo({ tick: '2' }, 'cpu_short') });
    expect(await sys.r.hexists(sys.keys.schedulesLastOf('inproc'), 'cluster-tick')).toBe(0);
    expect((await sys.r.hget(sys.keys.schedulesLastOf('cpu_short'), 'cluster-tick'))?.split('\t')[1]).toMatch(/^cluster-tick\./);
    await sys.client.deleteSchedule('cluster-tick');
    expect(await sys.r.hexists(sys.keys.schedulesLastOf('cpu_short'), 'cluster-tick')).toBe(0);
  });

  it('a submission killed between its claim and its tasks leaves claims that its retry completes, each task once', async () => {
    // The class keys' master paused for writes: the claims (index slots on other masters) go
    // through, the tasks' script waits there, and the front end is killed -9 meanwhile.
    const classMaster = await cluster.masterOf(sys.keys.taskList('inproc'));
    const ids: string[] = [];
    for (let i = 0; ids.length < 6; i++) {
      const id = `crash-step-${i}`;
      // Each in a bucket of its own, so that releasing one bucket's claims releases one.
      const apart = !ids.some((other) => taskIndexBucket(other) === taskIndexBucket(id));
      if (apart && (await cluster.masterOf(sys.keys.taskIndex(id))) !== classMaster) ids.push(id);
    }
    const batch = ids.map((taskId, i) => ({ ...echo({ crash: String(i) }), taskId }));
    const front = await sys.startOrchestrator();
    const paused = new Redis(cluster.servers.get(classMaster)!.url);
    try {
      await paused.call('CLIENT', 'PAUSE', '20000', 'WRITE');
      const submitting = front.client.submitTasks(batch).then(
        () => 'acknowledged',
        () => 'failed',
      );
      await waitFor(async () => (await Promise.all(ids.map((id) => sys.r.hget(sys.keys.taskIndex(id), id)))).every((v) => v !== null), {
        timeoutMs: 15_000,
        message: 'the claims were never made',
      });
      front.kill('SIGKILL');
      await front.exited;
      expect(await submitting).toBe('failed');
    } finally {
      await paused.call('CLIENT', 'UNPAUSE');
      paused.disconnect();
    }
    // Claimed, no task: no list entry, no job; the status says so.
    for (const id of ids) expect(decodeTaskIndex((await sys.r.hget(sys.keys.taskIndex(id), id))!)).toMatchObject({ listEntry: '', taskClass: 'inproc' });
    expect(await sys.r.exists(...ids.map((id) => sys.keys.job('inproc', id)))).toBe(0);
    await expect(sys.client.getTaskStatus(ids[0]!)).rejects.toThrow(/NOT_FOUND.*submit it again/);
    // A different content for a claimed id is refused; the same content completes it.
    await expect(sys.client.submitTask({ ...echo({ other: '1' }), taskId: ids[0]! })).rejects.toThrow(/ALREADY_EXISTS/);
    // The retention's claim scan releases a claim past the orphan grace whose task never came
    // (here the last id's, with no grace), and leaves a claim within the grace alone.
    const queues = new TaskQueues({ redis: sys.r, keys: sys.keys, classes: sys.config.classes });
    const sweeper = (graceMs: number) =>
      new TaskRetention({ redis: sys.r, keys: sys.keys, queues, logger: createLogger('warn'), ownerId: 'test', orphanGraceMs: graceMs });
    const last = ids[ids.length - 1]!;
    try {
      expect(await sweeper(60_000).releaseStaleClaims([taskIndexBucket(last)])).toBe(0);
      expect(await sweeper(0).releaseStaleClaims([taskIndexBucket(last)])).toBe(1);
    } finally {
      await queues.close();
    }
    expect(await sys.r.hget(sys.keys.taskIndex(last), last)).toBeNull();
    const again = await sys.client.submitTasks(batch);
    expect(again.map((t) => t.created)).toEqual(ids.map(() => true));
    for (const id of ids) expect((await sys.client.waitForResult(id, { timeoutMs: 30_000 })).state).toBe(TaskState.TASK_STATE_SUCCEEDED);
    // Settled: each value names its list entry, the only one of its task; one submitted event each.
    const listed = ((await sys.r.xrange(sys.keys.taskList('inproc'), '-', '+')) as [string, string[]][]).filter(([, f]) => ids.includes(f[1]!));
    expect(listed.map(([, f]) => f[1]).sort()).toEqual([...ids].sort());
    for (const id of ids) {
      const v = decodeTaskIndex((await sys.r.hget(sys.keys.taskIndex(id), id))!);
      expect(v.listEntry).toBe(listed.find(([, f]) => f[1] === id)![0]);
    }
    expect((await sys.client.submitTasks(batch)).map((t) => t.created)).toEqual(ids.map(() => false));
    expect(await sys.r.xlen(sys.keys.taskList('cpu_short'))).toBeGreaterThan(0);
  });

  it('a task added whose claim was never settled keeps its status, and its retry is the same task', async () => {
    const { taskId } = await sys.client.submitTask(echo({ unsettled: '1' }));
    await sys.client.waitForResult(taskId, { timeoutMs: 30_000 });
    // As a front end killed after adding the task and before settling its claim leaves it.
    const v = decodeTaskIndex((await sys.r.hget(sys.keys.taskIndex(taskId), taskId))!);
    const claimedMs = entryMs(v.listEntry)!;
    await sys.r.hset(sys.keys.taskIndex(taskId), taskId, `${v.taskClass}\t${v.digest}\t\t${claimedMs}`);
    const status = await sys.client.getTaskStatus(taskId);
    expect([status.state, Number(status.submittedAtMs)]).toEqual([TaskState.TASK_STATE_SUCCEEDED, claimedMs]);
    const [again] = await sys.client.submitTasks([{ ...echo({ unsettled: '1' }), taskId }]);
    expect(again!.created).toBe(false);
    expect(((await sys.r.xrange(sys.keys.taskList('inproc'), '-', '+')) as [string, string[]][]).filter(([, f]) => f[1] === taskId)).toHaveLength(1);
  });

  it('a class of three partitions: on three masters, 300 tasks spread over them, each run once, found by every operation', async () => {
    const hot = (payload: Record<string, string>, taskId?: string): TaskInput => ({ taskClass: 'hot', payload, ...(taskId ? { taskId } : {}) });
    // Each partition on a master of its own: one moved where two share one.
    const masters = await Promise.all([0, 1, 2].map((p) => cluster.masterOf(sys.keys.taskList('hot', p))));
    const free = [...cluster.servers.keys()].filter((port) => !masters.includes(port));
    for (let p = 1; p < 3; p++) {
      if (masters.slice(0, p).includes(masters[p]!)) {
        masters[p] = free.shift()!;
        await cluster.moveSlot(await cluster.slotOf(sys.keys.taskList('hot', p)), masters[p]!);
      }
    }
    expect(new Set(await Promise.all([0, 1, 2].map((p) => cluster.masterOf(sys.keys.taskList('hot', p))))).size).toBe(3);

    // 300 tasks: 60 alone, 240 in batches of 60.
    const ids = Array.from({ length: 300 }, (_, i) => `hot-${i}`);
    const alone = await Promise.all(ids.slice(0, 60).map((id) => sys.client.submitTask(hot({ i: id }, id))));
    const batched = (
      await Promise.all([60, 120, 180, 240].map((from) => sys.client.submitTasks(ids.slice(from, from + 60).map((id) => hot({ i: id }, id)))))
    ).flat();
    expect([...alone, ...batched].every((t) => t.created)).toBe(true);
    // Every result once, merged from the three partitions' streams.
    const results = new Map<string, number>();
    for await (const r of sys.client.streamTaskResults({ taskIds: ids, closeWhenDone: true })) {
      expect(r.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
      results.set(r.taskId, (results.get(r.taskId) ?? 0) + 1);
    }
    expect([...results.keys()].sort()).toEqual([...ids].sort());
    expect([...results.values()].every((n) => n === 1)).toBe(true);
    // Landed on every partition, each task in its own: its list, its results stream once, its count.
    const lists = await Promise.all([0, 1, 2].map((p) => sys.r.xrange(sys.keys.taskList('hot', p), '-', '+') as Promise<[string, string[]][]>));
    lists.forEach((entries, p) => {
      expect(entries.length).toBeGreaterThan(50);
      for (const [, f] of entries) expect(sys.keys.partitionOf('hot', f[1]!)).toBe(p);
    });
    expect(lists.reduce((n, l) => n + l.length, 0)).toBe(300);
    const streamed = (await Promise.all(sys.keys.resultStreams(['hot']).map((st) => sys.r.xrange(st.key, '-', '+') as Promise<[string, string[]][]>))).flat();
    expect(streamed.length).toBe(300);
    const counted = await Promise.all(
      sys.keys
        .counterKeys(['hot'])
        .slice(1)
        .map((k) => sys.r.hget(k, 'succeeded:hot')),
    );
    expect(counted.reduce((n, v) => n + Number(v ?? 0), 0)).toBe(300);
    expect(counted.every((v) => Number(v) > 0)).toBe(true);
    expect((await sys.client.getMetrics()).metrics['tasks_succeeded_total{class="hot"}']).toBe(300);

    // Status of one task of each partition; ListTasks merges the three lists.
    for (let p = 0; p < 3; p++) {
      const id = ids.find((i) => sys.keys.partitionOf('hot', i) === p)!;
      const st = await sys.client.getTaskStatus(id);
      expect([st.taskClass, st.state, JSON.parse(st.resultJson)]).toEqual(['hot', TaskState.TASK_STATE_SUCCEEDED, { i: id }]);
    }
    const listed: string[] = [];
    let token = '';
    do {
      const page = await sys.client.listTasks({ taskClasses: ['hot'] }, { pageSize: 120, pageToken: token });
      listed.push(...page.tasks.map((t) => t.taskId));
      token = page.nextPageToken;
    } while (token);
    expect(listed.filter((id) => id.startsWith('hot-')).sort()).toEqual([...ids].sort());

    // A cluster-wide cap is split over the partitions (4: 2, 1, 1), never more in all; below 3 it is refused.
    await expect(sys.client.setClassLimits('hot', { globalConcurrency: 2 })).rejects.toThrow(/INVALID_ARGUMENT.*global_concurrency.*3 partitions/);
    expect((await sys.client.setClassLimits('hot', { globalConcurrency: 4 })).globalConcurrency).toBe(4);
    const metaOf = (p: number) => sys.r.hget(`${sys.keys.queuePrefixOf('hot', p)}:hot:meta`, 'concurrency');
    expect(await Promise.all([0, 1, 2].map(metaOf))).toEqual(['2', '1', '1']);
    expect((await sys.client.setClassLimits('hot', { globalConcurrency: 0 })).globalConcurrency).toBe(0);
    expect(await Promise.all([0, 1, 2].map(metaOf))).toEqual([null, null, null]);

    // A pause stops every partition: one task per partition stays queued while another class runs.
    const paused = await sys.client.pauseClass('hot');
    expect(paused.paused).toBe(true);
    const held = [0, 1, 2].map((p) => Array.from({ length: 200 }, (_, i) => `hot-held-${i}`).find((id) => sys.keys.partitionOf('hot', id) === p)!);
    await sys.client.submitTasks(held.map((id) => hot({ held: id }, id)));
    const other = await sys.client.submitTask(echo({ meanwhile: '1' }));
    await sys.client.waitForResult(other.taskId, { timeoutMs: 30_000 });
    for (const id of held) expect((await sys.client.getTaskStatus(id)).state).toBe(TaskState.TASK_STATE_QUEUED);
    // Cancel reaches the one in partition 2; the others run once resumed.
    await sys.client.cancelTask(held[2]!, 'not needed');
    expect((await sys.client.getTaskStatus(held[2]!)).state).toBe(TaskState.TASK_STATE_CANCELLED);
    expect(await sys.r.hget(sys.keys.cancelOf('hot', 2), held[2]!)).toBe('not needed');
    expect((await sys.client.resumeClass('hot')).paused).toBe(false);
    for (const id of held.slice(0, 2)) expect((await sys.client.waitForResult(id, { timeoutMs: 30_000 })).state).toBe(TaskState.TASK_STATE_SUCCEEDED);

    // RetryTasks finds failed tasks in every partition: each fails once, then succeeds.
    const failing = [0, 1, 2].map((p) => Array.from({ length: 200 }, (_, i) => `hot-fail-${i}`).find((id) => sys.keys.partitionOf('hot', id) === p)!);
    await sys.client.submitTasks(failing.map((taskId) => ({ taskId, taskClass: 'hot', payload: { succeed_on_attempt: '2' }, executor: { handler: 'fail' } })));
    for (const id of failing) expect((await sys.client.waitForResult(id, { timeoutMs: 30_000 })).state).toBe(TaskState.TASK_STATE_FAILED);
    const retried = await sys.client.retryTasks({ filter: { taskClasses: ['hot'], states: [TaskState.TASK_STATE_FAILED] } });
    expect([...retried.retried].sort()).toEqual([...failing].sort());
    for (const id of failing) {
      await waitFor(async () => (await sys.client.getTaskStatus(id)).state === TaskState.TASK_STATE_SUCCEEDED, {
        timeoutMs: 30_000,
        message: `${id} never succeeded after its retry`,
      });
    }

    // A workflow whose steps run in the partitioned class: fan out over its partitions, then join.
    await sys.client.createWorkflow({
      name: 'hot-fan',
      steps: [
        ...['a', 'b', 'c', 'd'].map((stepId) => ({ stepId, task: hot({ s: stepId }) })),
        { stepId: 'join', dependsOn: ['a', 'b', 'c', 'd'], task: hot({ got: '${steps.a.result.s}${steps.d.result.s}' }) },
      ],
    });
    const { runId } = await sys.client.startWorkflowRun({ name: 'hot-fan', inputs: {} });
    const run = await sys.client.waitForRun(runId, { timeoutMs: 45_000 });
    expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED);
    expect(JSON.parse(run.steps.find((st) => st.stepId === 'join')!.resultJson)).toEqual({ got: 'ad' });

    // PurgeTasks sweeps every partition: each one's finished tasks, list entries and index entries go.
    const removed = await sys.client.purgeTasks({ olderThanMs: 0, taskClasses: ['hot'] });
    expect(removed).toBeGreaterThanOrEqual(300 + held.length + failing.length + 5);
    const left = await Promise.all([0, 1, 2].map((p) => sys.r.xlen(sys.keys.taskList('hot', p))));
    expect(left).toEqual([0, 0, 0]);
    await expect(sys.client.getTaskStatus(ids[0]!)).rejects.toThrow(/NOT_FOUND/);
  });
});
