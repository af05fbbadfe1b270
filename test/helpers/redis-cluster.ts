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
import { execFile } from 'node:child_process';
import { Redis } from 'ioredis';
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

export interface MoveSlotOptions {
  /** Keys per MIGRATE (redis-cli's --cluster-pipeline). @default 10 */
  keysPerMigrate?: number;
  /**
   * Awaited after each MIGRATE while the slot is half moved (MIGRATING on the source, IMPORTING
   * on the target): a suite holds the migration open here until clients have worked through it.
   */
  betweenBatches?: (batch: number) => Promise<void>;
}

export interface ClusterNodeView {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** For a replica, its master's id. */
  masterId: string;
  /** Whether the others consider it failed. */
  failed: boolean;
  /** Slot ranges served (masters), e.g. [[0, 5460]]. */
  slots: [number, number][];
}

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

const NOT_FOUND = 'redis-cli not found: install redis-tools (Debian installs it with redis-server); CI installs it in .ci/run';

function redisCli(args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', args, { timeout: timeoutMs, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** CLUSTER NODES' lines as views (ports from "ip:port@bus"). */
export function parseClusterNodes(text: string): ClusterNodeView[] {
  const out: ClusterNodeView[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    if (f.length < 8) continue;
    const port = Number(/:(\d+)@/.exec(f[1]!)?.[1] ?? 0);
    const flags = f[2]!.split(',');
    const slots: [number, number][] = [];
    for (const s of f.slice(8)) {
      if (s.startsWith('[')) continue; // a slot being migrated or imported
      const [a, b] = s.split('-').map(Number);
      slots.push([a!, b ?? a!]);
    }
    out.push({
      id: f[0]!,
      port,
      role: flags.includes('master') ? 'master' : 'replica',
      masterId: f[3] === '-' ? '' : f[3]!,
      failed: flags.includes('fail') || flags.includes('fail?'),
      slots,
    });
  }
  return out;
}

export async function startRedisCluster(opts: StartClusterOptions = {}): Promise<RedisClusterHandle> {
  if (!findOnPath('redis-cli')) throw new Error(NOT_FOUND);
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
    await redisCli(['--cluster', 'create', ...ports.map((p) => `${host}:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes']);
  } catch (err) {
    await stopAll();
    throw err;
  }

  const live = () => [...servers.keys()].filter((p) => !killed.has(p));
  const withNode = async <T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> => {
    const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    r.on('error', () => undefined);
    try {
      await r.connect();
      return await fn(r);
    } finally {
      r.disconnect();
    }
  };
  const nodes = async (): Promise<ClusterNodeView[]> => {
    let lastErr: unknown;
    for (const p of live()) {
      try {
        return parseClusterNodes(String(await withNode(p, (r) => r.call('CLUSTER', 'NODES'))));
      } catch (err) {
        lastErr = err;
      }
    }
    throw new Error('no live cluster node answered CLUSTER NODES', { cause: lastErr });
  };
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
      const slot = Number(await withNode(live()[0]!, (r) => r.call('CLUSTER', 'KEYSLOT', key)));
      const m = (await nodes()).find((n) => n.role === 'master' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b));
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
      return Number(await withNode(live()[0]!, (r) => r.call('CLUSTER', 'KEYSLOT', key)));
    },
    async moveSlot(slot, toPort, opts = {}) {
      // The steps of https://redis.io/docs/latest/commands/cluster-setslot/ ("Redis Cluster live
      // resharding explained"), in the order redis-cli takes them: IMPORTING on the target before
      // MIGRATING on the source (else a client sent to the target by ASK would be refused), keys
      // moved a few at a time, then NODE on the target, the source, and every other master.
      const all = await nodes();
      const from = all.find((n) => n.role === 'master' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b));
      const to = all.find((n) => n.port === toPort);
      if (!from) throw new Error(`moveSlot: no live master serves slot ${slot}`);
      if (!to || to.role !== 'master') throw new Error(`moveSlot: no master on ${toPort}`);
      if (from.port === toPort) throw new Error(`moveSlot: slot ${slot} is already on ${toPort}`);
      const batch = opts.keysPerMigrate ?? 10;
      await withNode(toPort, (r) => r.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id));
      await withNode(from.port, (r) => r.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', to.id));
      await withNode(from.port, async (r) => {
        for (let n = 1; ; n++) {
          const keys = (await r.call('CLUSTER', 'GETKEYSINSLOT', slot, batch)) as string[];
          if (keys.length === 0) break;
          // No REPLACE: a key the target already holds would mean a write went to both nodes.
          await r.call('MIGRATE', host, toPort, '', 0, 10_000, 'KEYS', ...keys);
          await opts.betweenBatches?.(n);
        }
      });
      for (const port of [
        toPort,
        from.port,
        ...all.filter((n) => n.role === 'master' && !n.failed && n.port !== toPort && n.port !== from.port).map((n) => n.port),
      ])
        await withNode(port, (r) => r.call('CLUSTER', 'SETSLOT', slot, 'NODE', to.id));
      return from.port;
    },
    stop: async () => {
      await stopAll();
    },
  };
}
