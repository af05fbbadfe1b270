/**
 * Separate hosts on one machine, for suites that run pools (or front ends) as other machines:
 * a lab is one Linux bridge on the test's own private /24 (the machine's side at .1), and each
 * host is a network namespace with a veth pair on that bridge (.2, .3, ...). A host reaches only
 * the lab (servers the test binds to `lab.hostAddress`, e.g. a redis-server started with
 * `--bind 127.0.0.1 <hostAddress>`) and its own loopback: no traffic leaves the machine.
 *
 * `cut()` takes a host's link down (the host is partitioned: its connections stall, as across a
 * failed switch port) and `restore()` brings it back. `remove()` kills whatever still runs in
 * the namespace and deletes it; labs still present when the test process exits are removed too.
 * Needs root and iproute2 (CI installs it, .ci/run).
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { findOnPath } from '../../src/redis/redis-server-process.js';

export interface NetnsHost {
  /** The namespace's name. */
  readonly name: string;
  /** Its address on the lab's bridge. */
  readonly address: string;
  /** Spawns `cmd` inside the namespace (`ip netns exec`). */
  spawn(cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** Pids of every process in the namespace. */
  pids(): number[];
  /** Takes the host's link down: it can reach nothing until restore(). */
  cut(): void;
  restore(): void;
  /** SIGKILL of everything in it, then deletes the namespace. Safe to call twice. */
  remove(): void;
}

export interface NetnsLab {
  /** The machine's address on the lab's bridge: bind servers the hosts must reach to it. */
  readonly hostAddress: string;
  addHost(): NetnsHost;
  /** Removes every host, then the bridge. Safe to call twice. */
  remove(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

const labs = new Set<NetnsLab>();
let exitHook = false;

export function netnsAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  if (!findOnPath('ip')) return 'iproute2 (ip) is not installed';
  return undefined;
}

export function createNetnsLab(): NetnsLab {
  const why = netnsAvailable();
  if (why) throw new Error(`${why} (CI runs as root and installs iproute2, .ci/run)`);
  // A private /24 unlikely to meet a real network here (10.200-250.x.0), named after this process.
  const net = `10.${randomInt(200, 250)}.${randomInt(0, 256)}`;
  const tag = `${process.pid.toString(36)}${randomInt(0, 1296).toString(36)}`;
  const bridge = `orqbr${tag}`.slice(0, 15);
  ip('link', 'add', bridge, 'type', 'bridge');
  try {
    ip('addr', 'add', `${net}.1/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
  } catch (err) {
    ip('link', 'del', bridge);
    throw err;
  }
  const hosts: NetnsHost[] = [];
  let removed = false;
  const lab: NetnsLab = {
    hostAddress: `${net}.1`,
    addHost() {
      const n = hosts.length + 2;
      const name = `orqns${tag}h${n}`;
      const veth = `orqv${tag}h${n}`.slice(0, 15);
      ip('netns', 'add', name);
      let gone = false;
      const pids = () => ip('netns', 'pids', name).split('\n').filter(Boolean).map(Number);
      const host: NetnsHost = {
        name,
        address: `${net}.${n}`,
        spawn: (cmd, args, opts = {}) => spawn('ip', ['netns', 'exec', name, cmd, ...args], opts),
        pids,
        cut: () => ip('link', 'set', veth, 'down'),
        restore: () => ip('link', 'set', veth, 'up'),
        remove() {
          if (gone) return;
          gone = true;
          for (const pid of pids()) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // already gone
            }
          }
          // Deleting the namespace deletes its end of the pair, and so the pair.
          ip('netns', 'del', name);
        },
      };
      try {
        ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name);
        ip('link', 'set', veth, 'master', bridge, 'up');
        ip('-n', name, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0');
        ip('-n', name, 'link', 'set', 'eth0', 'up');
        ip('-n', name, 'link', 'set', 'lo', 'up');
      } catch (err) {
        host.remove();
        throw err;
      }
      hosts.push(host);
      return host;
    },
    remove() {
      if (removed) return;
      removed = true;
      labs.delete(lab);
      for (const h of hosts) h.remove();
      ip('link', 'del', bridge);
    },
  };
  labs.add(lab);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const l of labs) {
        try {
          l.remove();
        } catch {
          // best effort at exit
        }
      }
    });
  }
  return lab;
}
