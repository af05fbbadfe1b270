/**
 * A throwaway Redis Cluster per test suite, on loopback: `masters` redis-servers in cluster mode
 * (and `replicas` replicas of each, for failover), joined with `redis-cli --cluster create`,
 * waited for until every node reports `cluster_state:ok` and knows every other node. Each node is
 * a throwaway server of test/helpers/redis-server.ts (its own port, its own cluster bus port,
 * its own directory), so a forgotten stop() still leaves no process behind.
 *
 * The fault helpers are the ones the cluster suites inject: a node killed with SIGKILL (a master
 * then fails over to its replica after `nodeTimeoutMs`), and slots moved between masters while
 * clients work (`redis-cli --cluster reshard`).
 */
import {
  clusterKeySlot,
  clusterNodes,
  createCluster,
  masterOfSlot,
  moveClusterSlot,
  REDIS_CLI_NOT_FOUND,
  redisCli,
  withClusterNode,
  type ClusterNodeView,
  type MoveSlotOptions,
} from '../../src/redis/cluster-admin.js';
import { findOnPath } from '../../src/redis/redis-server-process.js';
import { freePort, startRedis, type RedisServerHandle } from './redis-server.js';
import { waitFor } from './wait.js';

export interface StartClusterOptions {
  /** @default 3 */
  masters?: number;
  /** Replicas of each master. @default 0 */
  replicas?: number;
  /** cluster-node-timeout: how long a master may be silent before its replica takes over. @default 2000 */
  nodeTimeoutMs?: number;
  /**
   * The address the nodes announce and clients use, besides loopback: a network-namespace lab's
   * (test/helpers/netns.ts `hostAddress`), so that pools on the lab's hosts reach the cluster.
   * Nodes then bind it too, without protected mode (the lab is the test's own). @default "127.0.0.1"
   */
  host?: string;
}

// Kept exported from here: the suites import them with the helper.
export { parseClusterNodes, type ClusterNodeView, type MoveSlotOptions } from '../../src/redis/cluster-admin.js';

export interface RedisClusterHandle {
  /** Every node started, by port (killed ones too). */
  readonly servers: ReadonlyMap<number, RedisServerHandle>;
  /** redis://<host>:P of each node, for seeds. */
  readonly seeds: string[];
  /** Every node as one URL of several hosts: what REDIS_URL names a cluster with. */
  readonly url: string;
  /** The nodes as a live node reports them (CLUSTER NODES). */
  nodes(): Promise<ClusterNodeView[]>;
  /** The port of the master serving `key` now. */
  masterOf(key: string): Promise<number>;
  /** SIGKILL of one node; resolves once it is gone. */
  kill(port: number): Promise<void>;
  /** Waits until every live node reports cluster_state:ok. */
  waitOk(timeoutMs?: number): Promise<void>;
  /** Moves `slots` slots from one master to another (redis-cli --cluster reshard), while clients go on. */
  reshard(fromPort: number, toPort: number, slots: number): Promise<void>;
  /** The hash slot of `key` (CLUSTER KEYSLOT, asked of a live node). */
  slotOf(key: string): Promise<number>;
  /**
   * Moves exactly one slot, with its keys, from the master serving it to the master on `toPort`,
   * as `redis-cli --cluster reshard` moves each slot (which cannot be told which slot to move).
   * Resolves with the source master's port.
   */
  moveSlot(slot: number, toPort: number, opts?: MoveSlotOptions): Promise<number>;
  /** Stops every node and removes their directories. */
  stop(): Promise<void>;
}

export async function startRedisCluster(opts: StartClusterOptions = {}): Promise<RedisClusterHandle> {
  if (!findOnPath('redis-cli')) throw new Error(REDIS_CLI_NOT_FOUND);
  const masters = opts.masters ?? 3;
  const replicas = opts.replicas ?? 0;
  const nodeTimeoutMs = opts.nodeTimeoutMs ?? 2_000;
  const host = opts.host ?? '127.0.0.1';
  const bind = host === '127.0.0.1' ? [] : ['--bind', `127.0.0.1 ${host}`, '--protected-mode', 'no'];
  const servers = new Map<number, RedisServerHandle>();
  const killed = new Set<number>();
  const stopAll = () => Promise.all([...servers.values()].map((s) => s.stop()));
  try {
    const count = masters * (1 + replicas);
    for (let i = 0; i < count; i++) {
      // Its own bus port (cluster-port) rather than port + 10000, which may be taken or out of range.
      const busPort = await freePort();
      const s = await startRedis({
        extraArgs: [
          ...bind,
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          String(nodeTimeoutMs),
          '--cluster-port',
          String(busPort),
        ],
      });
      servers.set(s.port, s);
    }
    const ports = [...servers.keys()];
    await createCluster(host, ports, replicas);
  } catch (err) {
    await stopAll();
    throw err;
  }

  const live = () => [...servers.keys()].filter((p) => !killed.has(p));
  const withNode = withClusterNode;
  const nodes = (): Promise<ClusterNodeView[]> => clusterNodes(live());
  const waitOk = async (timeoutMs = 30_000): Promise<void> => {
    await waitFor(
      async () => {
        for (const p of live()) {
          const info = String(await withNode(p, (r) => r.call('CLUSTER', 'INFO')));
          if (!/^cluster_state:ok/m.test(info)) return false;
          if (!/^cluster_slots_ok:16384/m.test(info)) return false;
        }
        // Every live node knows every node, and every master that is up has its slots agreed on.
        const views = await nodes();
        return views.length === servers.size;
      },
      { timeoutMs, intervalMs: 100, message: 'the Redis Cluster did not reach cluster_state:ok on every live node' },
    );
  };
  // At creation, also until every replica has taken its master (redis-cli sends CLUSTER REPLICATE
  // before the nodes have met, so a replica can show as a master for a moment).
  const formed = async () => {
    const views = await nodes();
    const reps = views.filter((n) => n.role === 'replica');
    if (views.filter((n) => n.role === 'master' && n.slots.length > 0).length !== masters || reps.length !== masters * replicas) return false;
    // A replica that never synced cannot take over (its data is too old to be elected).
    for (const r of reps) if (!/^master_link_status:up/m.test(await withNode(r.port, (c) => c.info('replication')))) return false;
    return true;
  };
  await waitOk()
    .then(() =>
      waitFor(formed, { timeoutMs: 30_000, intervalMs: 100, message: `the Redis Cluster did not form ${masters} masters with ${replicas} replica(s) each` }),
    )
    .catch(async (err) => {
      await stopAll();
      throw err;
    });

  return {
    servers,
    seeds: [...servers.keys()].map((p) => `redis://${host}:${p}`),
    url: `redis://${[...servers.keys()].map((p) => `${host}:${p}`).join(',')}`,
    nodes,
    waitOk,
    async masterOf(key) {
      const slot = await clusterKeySlot(live()[0]!, key);
      const m = masterOfSlot(await nodes(), slot);
      if (!m) throw new Error(`no live master serves slot ${slot} (key ${key})`);
      return m.port;
    },
    async kill(port) {
      const s = servers.get(port);
      if (!s?.pid) throw new Error(`no cluster node on port ${port}`);
      killed.add(port);
      process.kill(s.pid, 'SIGKILL');
      await waitFor(
        () => {
          try {
            process.kill(s.pid!, 0);
            return false;
          } catch {
            return true;
          }
        },
        { timeoutMs: 10_000, message: `cluster node ${port} did not die on SIGKILL` },
      );
    },
    async reshard(fromPort, toPort, slots) {
      const all = await nodes();
      const from = all.find((n) => n.port === fromPort);
      const to = all.find((n) => n.port === toPort);
      if (!from || !to) throw new Error(`reshard: no node on ${from ? toPort : fromPort}`);
      await redisCli(
        ['--cluster', 'reshard', `${host}:${live()[0]}`, '--cluster-from', from.id, '--cluster-to', to.id, '--cluster-slots', String(slots), '--cluster-yes'],
        120_000,
      );
    },
    async slotOf(key) {
      return clusterKeySlot(live()[0]!, key);
    },
    async moveSlot(slot, toPort, opts = {}) {
      return moveClusterSlot(live(), host, slot, toPort, opts);
    },
    stop: async () => {
      await stopAll();
    },
  };
}
