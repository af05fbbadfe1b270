/**
 * The cluster scenario's Redis: a throwaway Redis Cluster of `masters` masters and no replicas on
 * free loopback ports, each a redis-server of src/redis/redis-server-process.ts with the bench's
 * settings (no persistence), in one temporary directory removed at the end. The steps of forming
 * and rearranging it are the test suites' (src/redis/cluster-admin.ts); one and two masters are
 * joined by hand, as redis-cli wants three.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  clusterKeySlot,
  clusterNodes,
  clusterReady,
  createCluster,
  createMastersCluster,
  masterOfSlot,
  moveClusterSlot,
  withClusterNode,
  type ClusterMember,
} from '../src/redis/cluster-admin.js';
import { findOnPath, freeLoopbackPort, startRedisServerProcess, type RedisServerProcess } from '../src/redis/redis-server-process.js';

const HOST = '127.0.0.1';

export interface BenchCluster {
  /**
   * Every master as one URL of several hosts, what names a cluster (src/config/redis-address.ts);
   * a one-master cluster's one node is named twice.
   */
  url: string;
  /** The masters' ports, in the order they were started. */
  ports: readonly number[];
  /** The hash slot of `key`. */
  slotOf(key: string): Promise<number>;
  /** The port of the master serving `slot`. */
  masterOf(slot: number): Promise<number>;
  /** Moves one (empty or not) slot to the master on `toPort`. */
  moveSlot(slot: number, toPort: number): Promise<void>;
  /** Keys on the master on `port`. */
  dbSize(port: number): Promise<number>;
  /** CPU time (used_cpu_user + used_cpu_sys) the master on `port` has used, in ms. */
  cpuMs(port: number): Promise<number>;
  stop(): Promise<void>;
  /** Synchronous last-resort stop (process exit). */
  kill(): void;
}

const live = new Set<() => void>();

/** Kills every bench cluster still running (error paths, interrupts). */
export function killBenchClusters(): void {
  for (const kill of live) kill();
}

export async function startBenchCluster(masters: number): Promise<BenchCluster> {
  if (!findOnPath('redis-cli')) throw new Error('redis-cli not found: the cluster scenario forms its cluster with it (install redis-tools)');
  const dir = mkdtempSync(join(tmpdir(), 'orq-bench-cluster-'));
  const servers: RedisServerProcess[] = [];
  const members: ClusterMember[] = [];
  const kill = () => {
    live.delete(kill);
    for (const s of servers) s.kill();
    rmSync(dir, { recursive: true, force: true });
  };
  live.add(kill);
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freeLoopbackPort();
      // Its own bus port (cluster-port) rather than port + 10000, which may be taken or out of range.
      const busPort = await freeLoopbackPort();
      const nodeDir = join(dir, String(port));
      mkdirSync(nodeDir);
      servers.push(
        await startRedisServerProcess({
          port,
          dir: nodeDir,
          stopTimeoutMs: 5_000,
          // Its address announced: a node learns its own IP from the nodes it meets, and a
          // one-master cluster meets none, so CLUSTER SLOTS would name it by "" and clients
          // could not reach it.
          extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(busPort), '--cluster-announce-ip', HOST],
        }),
      );
      members.push({ port, busPort });
    }
    const ports = members.map((m) => m.port);
    if (masters >= 3) await createCluster(HOST, ports, 0);
    else await createMastersCluster(HOST, members);
    for (const deadline = Date.now() + 30_000; !(await clusterReady(ports)); await new Promise((r) => setTimeout(r, 100))) {
      if (Date.now() > deadline) throw new Error(`the bench's Redis Cluster of ${masters} master(s) did not reach cluster_state:ok within 30 s`);
    }
  } catch (err) {
    kill();
    throw err;
  }
  const ports = members.map((m) => m.port);
  return {
    url: `redis://${(ports.length > 1 ? ports : [ports[0]!, ports[0]!]).map((p) => `${HOST}:${p}`).join(',')}`,
    ports,
    slotOf: (key) => clusterKeySlot(ports[0]!, key),
    async masterOf(slot) {
      const m = masterOfSlot(await clusterNodes(ports), slot);
      if (!m) throw new Error(`no master serves slot ${slot}`);
      return m.port;
    },
    async moveSlot(slot, toPort) {
      await moveClusterSlot(ports, HOST, slot, toPort);
      // Every master agrees before clients start: the scenario measures work, not redirections.
      for (
        const deadline = Date.now() + 10_000;
        (await Promise.all(ports.map(async (p) => masterOfSlot(await clusterNodes([p]), slot)?.port))).some((p) => p !== toPort);
      ) {
        if (Date.now() > deadline) throw new Error(`slot ${slot} moved to ${toPort}, but not every master agrees within 10 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    dbSize: (port) => withClusterNode(port, (r) => r.dbsize()),
    async cpuMs(port) {
      const info = await withClusterNode(port, (r) => r.info('cpu'));
      const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
      return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
    },
    stop: async () => {
      live.delete(kill);
      await Promise.all(servers.map((s) => s.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
    kill,
  };
}
