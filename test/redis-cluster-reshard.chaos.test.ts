/**
 * A class's slot moved to another master while tasks flow (README "Redis Cluster": moving slots).
 * Three masters; the slot holding the `inproc` class's keys (its tag `{orq:inproc}`, found with
 * CLUSTER KEYSLOT) is moved to another master, a few keys per MIGRATE as `redis-cli --cluster reshard` moves them, and then
 * back again, while a client submits batches, two pools run them and a reader follows
 * StreamTaskResults. Each move is held half done until a submission has waited on it for a
 * few seconds, so clients meet every stage of it: keys on the source, keys on the target (ASK),
 * scripts whose keys are split between the two (TRYAGAIN, until the last key has moved), blocked
 * reads on keys that leave, the slot's new owner (MOVED).
 *
 * Nothing may be lost or doubled: every acknowledged task succeeds exactly once (one `succeeded`
 * event, one final results entry, one delivery to the reader), the orchestrator and the pools
 * stay up, the slot ends on the master it was moved to, no slot is left half moved, and no
 * process of the suite is left running.
 */
import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServingStatus, TaskState } from '../src/client/orchestrator-client.js';
import { byTask, describeEvents, FINAL_STATES, lifecycleViolations, readFeed } from './helpers/feed-audit.js';
import { allProcesses, describeProcess, stillRunning } from './helpers/process-tree.js';
import { startRedisCluster, type RedisClusterHandle } from './helpers/redis-cluster.js';
import { startSystem, TEST_CONFIG_TOML, type PoolProcess, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

/**
 * How long a move is held half done while a submission waits on it: longer than ioredis's own
 * redirection budget rode out (16 redirections, about a second), within what a call rides out
 * now (SLOT_MOVE_RIDE_OUT_MS).
 */
const HOLD_MS = 2_500;

/**
 * The suite's classes, with the inproc class's lock longer than the hold: while the slot is split,
 * a lock's extension waits too, and a move that outlasts a lock makes its tasks stall and run again
 * (README "Redis Cluster"), which is not what this suite is about.
 */
const TOML = TEST_CONFIG_TOML.replace(/(\[classes\.inproc\][\s\S]*?)lockDurationMs = 2000/, '$1lockDurationMs = 10000');

let cluster: RedisClusterHandle;
let sys: TestSystem<RedisClusterHandle>;
const pools: PoolProcess[] = [];
beforeAll(async () => {
  expect(TOML).not.toBe(TEST_CONFIG_TOML);
  cluster = await startRedisCluster({ masters: 3 });
  sys = await startSystem({ redis: cluster, toml: TOML });
  pools.push(await sys.startPool({ classes: 'inproc:4' }), await sys.startPool({ classes: 'inproc:4' }));
}, 120_000);
afterAll(async () => {
  const url = cluster?.url;
  // The system stops the cluster it runs on; a start that failed before it still stops the cluster.
  if (sys) await sys.stop();
  else await cluster?.stop();
  // Nothing of the suite left running: no process with the cluster as its REDIS_URL, no node.
  const nodes = new Set([...(cluster?.servers.values() ?? [])].map((s) => s.pid));
  const ours = () =>
    allProcesses().filter((p) => {
      if (p.pid === process.pid || !stillRunning(p)) return false;
      if (nodes.has(p.pid)) return true;
      try {
        return readFileSync(`/proc/${p.pid}/environ`, 'utf8').split('\0').includes(`REDIS_URL=${url}`);
      } catch {
        return false;
      }
    });
  await waitFor(() => ours().length === 0, { timeoutMs: 10_000, message: `processes left running: ${ours().map(describeProcess).join('; ')}` });
});

describe("a class's slot moved to another master while tasks flow", { timeout: 180_000 }, () => {
  it('loses and doubles nothing: every acknowledged task succeeds once, both ways', async () => {
    const acked = new Set<string>();
    const refusals: string[] = [];
    let answered = 0;
    let stopping = false;
    /** Set once the submitter's last call has answered: only then is `acked` complete for the reader. */
    let submitted = false;
    /** Set when the test ends, however it ends: the submitter and the reader stop. */
    let ended = false;
    /** When the submit call in flight was sent, and the longest any call took. */
    let callSentAt = 0;
    let slowestCallMs = 0;

    const submitter = (async () => {
      for (let i = 0; !stopping; i++) {
        callSentAt = Date.now();
        try {
          const res = await sys.client.submitTasks(
            Array.from({ length: 10 }, (_, k) => ({ taskClass: 'inproc', payload: { i: String(i), k: String(k) } })),
            10_000,
          );
          for (const r of res) acked.add(r.taskId);
        } catch (err) {
          refusals.push(String(err));
        }
        answered++;
        slowestCallMs = Math.max(slowestCallMs, Date.now() - callSentAt);
      }
    })();

    // The reader resumes from its last cursor after any break, as a client following a class does.
    const delivered = new Map<string, number>();
    const breaks: string[] = [];
    let readerCursor = '';
    let stream: ReturnType<typeof sys.client.streamTaskResults> | undefined;
    const reader = (async () => {
      while (!ended && (!submitted || [...acked].some((id) => !delivered.has(id)))) {
        stream = sys.client.streamTaskResults({ taskClass: 'inproc', cursor: readerCursor });
        try {
          for await (const r of stream) {
            readerCursor = r.cursor;
            if (r.undeliverable) breaks.push(`marker: ${r.undeliverable}`);
            else delivered.set(r.taskId, (delivered.get(r.taskId) ?? 0) + 1);
            if (submitted && [...acked].every((id) => delivered.has(id))) break;
          }
        } catch (err) {
          if (!stopping && !ended) breaks.push(String(err));
        } finally {
          stream.cancel();
        }
      }
    })();

    /**
     * Each move, a few keys per MIGRATE as redis-cli moves them, held half done (after its fifth
     * MIGRATE) until a submission has waited on the split slot for HOLD_MS: what a larger slot or
     * a slower link costs.
     */
    const moves: { ms: number; spanning: number }[] = [];
    const move = async (slot: number, to: number) => {
      const calls = answered;
      const start = Date.now();
      const from = await cluster.moveSlot(slot, to, {
        keysPerMigrate: 10,
        // Or until a submission was refused: the suite then fails on that, not on the hold.
        betweenBatches: async (n) => {
          const refused = refusals.length;
          if (n === 5)
            await waitFor(() => Date.now() - callSentAt >= HOLD_MS || refusals.length > refused, {
              timeoutMs: 30_000,
              message: 'no submission waited on the half-moved slot',
            });
        },
      });
      moves.push({ ms: Date.now() - start, spanning: answered - calls });
      return from;
    };

    let slot: number | undefined;
    let home: number | undefined;
    let other: number | undefined;
    let keysBefore: number | undefined;
    const node = (port: number) => (sys.r as Cluster).nodes('master').find((c) => c.options.port === port)!;
    try {
      await waitFor(() => delivered.size >= 300, { timeoutMs: 60_000, message: 'tasks did not flow before the move' });
      slot = await cluster.slotOf(sys.keys.taskList('inproc'));
      home = await cluster.masterOf(sys.keys.taskList('inproc'));
      const masters = (await cluster.nodes()).filter((n) => n.role === 'master').map((n) => n.port);
      other = masters.find((p) => p !== home)!;
      keysBefore = Number(await node(home).call('CLUSTER', 'COUNTKEYSINSLOT', slot));

      // There: every key of the slot, a few per MIGRATE, with tasks flowing between them.
      expect(await move(slot, other)).toBe(home);
      expect(await cluster.masterOf(sys.keys.taskList('inproc'))).toBe(other);
      const ackedAfterFirst = acked.size;
      await waitFor(() => acked.size >= ackedAfterFirst + 50, { timeoutMs: 30_000, message: 'submissions did not go on after the first move' });

      // And back.
      expect(await move(slot, home)).toBe(other);
      expect(await cluster.masterOf(sys.keys.taskList('inproc'))).toBe(home);
      const ackedAfterSecond = acked.size;
      await waitFor(() => acked.size >= ackedAfterSecond + 50, { timeoutMs: 30_000, message: 'submissions did not go on after the second move' });
      stopping = true;
      await submitter;
      submitted = true;

      // Every acknowledged task delivered to the reader (which ends once it has them all).
      await waitFor(() => [...acked].every((id) => delivered.has(id)), {
        timeoutMs: 60_000,
        message: `acknowledged tasks never delivered: ${[...acked].filter((id) => !delivered.has(id)).length}`,
      });
    } finally {
      stopping = ended = true;
      stream?.cancel();
      await Promise.all([submitter, reader]);
    }

    console.log(
      `reshard: slot ${slot} (${keysBefore} keys) moved ${home} -> ${other} -> ${home} (${moves.map((m) => `${m.ms} ms, ${m.spanning} submit calls answered meanwhile`).join('; ')}); ${acked.size} tasks acknowledged, slowest submit call ${slowestCallMs} ms, ${refusals.length} submit calls refused, ${breaks.length} reader breaks`,
    );
    expect.soft(refusals, 'submissions refused while the slot moved').toEqual([]);
    expect(moves.every((m) => m.spanning >= 1 && m.ms >= HOLD_MS)).toBe(true);
    expect.soft(breaks, 'result stream breaks while the slot moved').toEqual([]);

    // Exactly once, as a Redis reader sees the feeds and as the gRPC reader got them.
    const r = sys.r as unknown as Redis;
    // The class's own streams: on a cluster each class has its own (README "Feeds").
    const events = byTask(await readFeed(r, sys.keys.eventsOf('inproc')));
    const results = byTask(await readFeed(r, sys.keys.resultsOf('inproc')));
    const notOnce: string[] = [];
    for (const id of acked) {
      const succeeded = (events.get(id) ?? []).filter((e) => e.f.type === 'succeeded').length;
      const finals = (results.get(id) ?? []).filter((e) => FINAL_STATES.has(e.f.state ?? ''));
      if (succeeded !== 1 || finals.length !== 1 || finals[0]!.f.state !== 'succeeded' || delivered.get(id) !== 1)
        notOnce.push(`${id}: ${succeeded} succeeded events, results ${finals.map((e) => e.f.state).join(',') || 'none'}, delivered ${delivered.get(id) ?? 0}`);
    }
    expect.soft(notOnce).toEqual([]);
    // Each task's whole lifecycle is on the events feed, in order: the events written outside a
    // script (a start, a count) went through the moves too.
    const incomplete = [...acked].filter((id) => (events.get(id) ?? []).map((e) => e.f.type).join(',') !== 'submitted,started,succeeded');
    expect.soft(incomplete.map((id) => `${id}: ${describeEvents(events.get(id) ?? [])}`)).toEqual([]);
    expect.soft(lifecycleViolations(events).map((v) => `${v.taskId}: ${v.why}`)).toEqual([]);
    // And as GetTaskStatus reads each one (its index entry and job moved with the slot).
    const ids = [...acked];
    const states = new Map<string, number>();
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = w; i < ids.length; i += 8) states.set(ids[i]!, (await sys.client.getTaskStatus(ids[i]!)).state);
      }),
    );
    expect(ids.filter((id) => states.get(id) !== TaskState.TASK_STATE_SUCCEEDED)).toEqual([]);

    // Everything stayed up, and no slot is left half moved on any master.
    for (const p of pools) expect(p.child.exitCode, p.output()).toBeNull();
    // Their heartbeats went on through the moves (a pool silent for three beats is shown lost).
    for (const p of pools) expect.soft(p.output()).not.toMatch(/heartbeat failed/);
    expect((await sys.client.health()).status).toBe(ServingStatus.SERVING_STATUS_SERVING);
    for (const n of (await cluster.nodes()).filter((v) => v.role === 'master')) {
      const own = String(await node(n.port).call('CLUSTER', 'NODES'));
      expect(own, `node ${n.port}`).not.toMatch(/\[\d+-[<>]-/);
    }
  });
});
