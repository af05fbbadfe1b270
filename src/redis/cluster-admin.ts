/**
 * Forming and rearranging a Redis Cluster from outside it: `redis-cli --cluster create`, CLUSTER
 * NODES as views, CLUSTER KEYSLOT, and one slot moved with its keys. Shared by the test suites'
 * throwaway clusters (test/helpers/redis-cluster.ts) and the bench's (bench/bench-cluster.ts);
 * nothing in the running system uses it (it follows the cluster by itself: src/redis/connection.ts).
 */
import { execFile } from 'node:child_process';
import { Redis } from 'ioredis';

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

export interface MoveSlotOptions {
  /** Keys per MIGRATE (redis-cli's --cluster-pipeline). @default 10 */
  keysPerMigrate?: number;
  /**
   * Awaited after each MIGRATE while the slot is half moved (MIGRATING on the source, IMPORTING
   * on the target): a suite holds the migration open here until clients have worked through it.
   */
  betweenBatches?: (batch: number) => Promise<void>;
}

export const REDIS_CLI_NOT_FOUND = 'redis-cli not found: install redis-tools (Debian installs it with redis-server); CI installs it in .ci/run';

/** Runs redis-cli; rejects with its output when it fails. */
export function redisCli(args: string[], timeoutMs = 60_000): Promise<string> {
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

/** Runs `fn` on a fresh connection to the node on 127.0.0.1:`port` (no retries: a dead node fails at once). */
export async function withClusterNode<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** Joins empty cluster-enabled servers into a cluster: `replicas` replicas per master, the slots spread evenly over the masters. */
export async function createCluster(host: string, ports: readonly number[], replicas: number): Promise<void> {
  await redisCli(['--cluster', 'create', ...ports.map((p) => `${host}:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes']);
}

/** A cluster-enabled server to join: its client port and its cluster bus port (cluster-port). */
export interface ClusterMember {
  port: number;
  busPort: number;
}

/**
 * Joins one or more empty cluster-enabled servers as masters without replicas, each given an
 * even share of the 16384 slots: what `redis-cli --cluster create` does, for the one- and
 * two-master clusters it refuses to make (it asks for three masters at least).
 */
export async function createMastersCluster(host: string, members: readonly ClusterMember[]): Promise<void> {
  const n = members.length;
  for (const [i, m] of members.entries()) {
    const from = Math.floor((16_384 * i) / n);
    const to = Math.floor((16_384 * (i + 1)) / n) - 1;
    await withClusterNode(m.port, (r) => r.call('CLUSTER', 'ADDSLOTSRANGE', from, to));
  }
  for (const m of members.slice(1)) await withClusterNode(members[0]!.port, (r) => r.call('CLUSTER', 'MEET', host, m.port, m.busPort));
}

/** Whether every node on `ports` reports cluster_state:ok, every slot served, and `ports.length` nodes known. */
export async function clusterReady(ports: readonly number[]): Promise<boolean> {
  for (const p of ports) {
    const info = String(await withClusterNode(p, (r) => r.call('CLUSTER', 'INFO')));
    if (!/^cluster_state:ok/m.test(info) || !/^cluster_slots_ok:16384/m.test(info)) return false;
    if (Number(/^cluster_known_nodes:(\d+)/m.exec(info)?.[1] ?? 0) !== ports.length) return false;
  }
  return true;
}

/** The nodes as the first of `ports` that answers reports them (CLUSTER NODES). */
export async function clusterNodes(ports: readonly number[]): Promise<ClusterNodeView[]> {
  let lastErr: unknown;
  for (const p of ports) {
    try {
      return parseClusterNodes(String(await withClusterNode(p, (r) => r.call('CLUSTER', 'NODES'))));
    } catch (err) {
      lastErr = err;
    }
  }
  throw new Error('no live cluster node answered CLUSTER NODES', { cause: lastErr });
}

/** The hash slot of `key` (CLUSTER KEYSLOT, asked of the node on `port`). */
export async function clusterKeySlot(port: number, key: string): Promise<number> {
  return Number(await withClusterNode(port, (r) => r.call('CLUSTER', 'KEYSLOT', key)));
}

/** The live master serving `slot` among `nodes`. */
export function masterOfSlot(nodes: readonly ClusterNodeView[], slot: number): ClusterNodeView | undefined {
  return nodes.find((n) => n.role === 'master' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b));
}

/**
 * Moves exactly one slot, with its keys, from the master serving it to the master on `toPort`,
 * as `redis-cli --cluster reshard` moves each slot (which cannot be told which slot to move).
 * `host` is the address the nodes reach each other on (MIGRATE's target). Resolves with the
 * source master's port.
 */
export async function moveClusterSlot(livePorts: readonly number[], host: string, slot: number, toPort: number, opts: MoveSlotOptions = {}): Promise<number> {
  // The steps of https://redis.io/docs/latest/commands/cluster-setslot/ ("Redis Cluster live
  // resharding explained"), in the order redis-cli takes them: IMPORTING on the target before
  // MIGRATING on the source (else a client sent to the target by ASK would be refused), keys
  // moved a few at a time, then NODE on the target, the source, and every other master.
  const all = await clusterNodes(livePorts);
  const from = masterOfSlot(all, slot);
  const to = all.find((n) => n.port === toPort);
  if (!from) throw new Error(`moveSlot: no live master serves slot ${slot}`);
  if (!to || to.role !== 'master') throw new Error(`moveSlot: no master on ${toPort}`);
  if (from.port === toPort) throw new Error(`moveSlot: slot ${slot} is already on ${toPort}`);
  const batch = opts.keysPerMigrate ?? 10;
  await withClusterNode(toPort, (r) => r.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id));
  await withClusterNode(from.port, (r) => r.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', to.id));
  await withClusterNode(from.port, async (r) => {
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
    await withClusterNode(port, (r) => r.call('CLUSTER', 'SETSLOT', slot, 'NODE', to.id));
  return from.port;
}
