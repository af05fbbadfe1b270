/**
 * A Redis Cluster master killed with kill -9 while tasks flow (README "Redis Cluster": what a
 * failover can lose). Three masters with a replica each; every key of the system shares one hash
 * tag, so the master serving that slot is the one killed. Submissions go on throughout: while the
 * replica takes over they fail with UNAVAILABLE (never acknowledged), then succeed again. Redis
 * replicates asynchronously, so a task acknowledged just before the kill may not have reached the
 * replica: the suite measures how many acknowledged tasks were lost, and checks that each of
 * them was acknowledged within the replication window before the kill (never earlier), that every
 * other one succeeded exactly once, and that nothing is left running.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type RedisClusterHandle } from './helpers/redis-cluster.js';
import { startSystem, type TestSystem } from './helpers/system.js';
import { succeededEvents, succeededOrLost } from './helpers/task-outcomes.js';

let cluster: RedisClusterHandle;
let sys: TestSystem<RedisClusterHandle>;
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: 2_000 });
  sys = await startSystem({ redis: cluster });
  await sys.startPool({ classes: 'inproc:8' });
}, 120_000);
afterAll(async () => sys?.stop());

/** How long before the kill an acknowledged task may still be lost: the replication lag on loopback is far below it. */
const REPLICATION_WINDOW_MS = 1_000;

describe('a Redis Cluster master killed while tasks flow', { timeout: 180_000 }, () => {
  it('fails over to its replica; only tasks acknowledged within the replication window can be lost, the rest succeed once', async () => {
    const master = await cluster.masterOf(sys.keys.eventsOf('inproc'));
    const acked = new Map<string, number>();
    let refused = 0;
    let killedAt = 0;
    let afterFailover = 0;
    const submitter = (async () => {
      // Until 20 batches went through after the failover.
      for (let i = 0; afterFailover < 20; i++) {
        try {
          const res = await sys.client.submitTasks(
            Array.from({ length: 10 }, (_, k) => ({ taskClass: 'inproc', payload: { i: String(i), k: String(k) } })),
            5_000,
          );
          const at = Date.now();
          for (const r of res) acked.set(r.taskId, at);
          if (killedAt && (await cluster.masterOf(sys.keys.eventsOf('inproc'))) !== master) afterFailover++;
        } catch {
          refused++;
        }
        if (i === 30) {
          killedAt = Date.now();
          await cluster.kill(master);
        }
      }
    })();
    await submitter;
    await cluster.waitOk(60_000);
    expect(killedAt).toBeGreaterThan(0);

    // Every acknowledged task ends: succeeded, or gone with the writes the replica never got.
    const lost: string[] = [];
    for (const [id, at] of acked) {
      const state = await succeededOrLost(sys.client, id, `task ${id} (acknowledged ${killedAt - at} ms before the kill) neither succeeded nor was lost`);
      if (state === 'lost') {
        lost.push(id);
        expect(killedAt - at, `task ${id} lost though acknowledged ${killedAt - at} ms before the kill`).toBeLessThan(REPLICATION_WINDOW_MS);
      }
    }
    console.log(
      `failover: ${acked.size} tasks acknowledged, ${lost.length} lost (acknowledged within ${REPLICATION_WINDOW_MS} ms before the kill), ${refused} batches refused while the replica took over`,
    );

    // Exactly once: one succeeded event per surviving task.
    const succeeded = await succeededEvents(sys.r, sys.keys.eventsOf('inproc'));
    // Read from the class's own events stream (one per class on a cluster): never an empty check.
    expect(succeeded.size).toBeGreaterThan(0);
    for (const id of acked.keys()) if (!lost.includes(id)) expect(succeeded.get(id) ?? 0, id).toBeLessThanOrEqual(1);
  });
});
