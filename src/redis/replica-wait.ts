/**
 * Acknowledgements that mean "on N replicas" (config redis.waitReplicas, README "Redis
 * Cluster"): after the writes of a caller's request, Redis's `WAIT <n> <timeoutMs>` on each
 * connection that ran them, before the caller hears OK.
 *
 * Why on that connection: WAIT waits for the replication offset of the calling client's own last
 * write (Redis's `c->woff`); a WAIT sent on any other connection confirms that connection's
 * writes, not ours. On a Redis Cluster each master has its own connection and its own offsets, and
 * WAIT has no key for ioredis to route by (a keyless command goes to a random node,
 * https://github.com/redis/ioredis/issues/66; Jedis's waitReplicas(key, ...) takes the slot's
 * connection the same way, https://github.com/redis/jedis/issues/1867): the request notes a key of
 * each slot it wrote, and the WAIT goes to the connection of the master the Cluster's slots cache
 * names for that slot (ioredis sends a keyed command down the same connection:
 * `Cluster.nodes('master')` are the connections it routes by, `Cluster.slots[slot][0]` the master
 * it picks).
 *
 * Group commit: a blocked WAIT holds its connection (Redis reads nothing more from a blocked
 * client), so WAITs on one connection are never queued behind each other. While one is in flight,
 * the requests that finish their writes join a single next WAIT, sent when the first returns:
 * a WAIT sent after a write covers it, whoever sent it. Under load one WAIT confirms many calls,
 * and while replicas do not answer a call waits at most twice the timeout, however many wait.
 *
 * Off (waitReplicas 0, the default) nothing is collected and nothing is sent.
 */
import { Command } from 'ioredis';
import { OrchestratorError } from '../errors/errors.js';
import { isCluster, type RedisClient } from './redis-client.js';
import { hashTag } from './hash-tag.js';
import { slotOf } from './keyed-command.js';

export interface ReplicaWaitOptions {
  /** Replicas each acknowledged write must reach (redis.waitReplicas); 0: off. */
  replicas: number;
  /** How long one WAIT may block (redis.waitTimeoutMs). */
  timeoutMs: number;
}

/**
 * The writes one request made: a key of each slot written, by the connection that wrote it. Domain
 * code notes them where it writes; only the slot of a key matters (its hash tag).
 */
export class WrittenKeys {
  /** connection -> hashed part of a key (its hash tag, else the key) -> one key written there. */
  readonly byClient = new Map<RedisClient, Map<string, string>>();

  note(client: RedisClient, key: string): this {
    let slots = this.byClient.get(client);
    if (!slots) this.byClient.set(client, (slots = new Map()));
    const tag = hashTag(key);
    if (!slots.has(tag)) slots.set(tag, key);
    return this;
  }

  get empty(): boolean {
    return this.byClient.size === 0;
  }
}

/**
 * One connection's (on a cluster: one master's) WAITs: one in flight, at most one more pending.
 * A pending WAIT is sent when the one in flight returns, or at the next turn of the event loop
 * when none is: the writes whose replies came in the same read off the socket share it.
 */
class WaitLane {
  private inFlight?: Promise<number>;
  private next?: Promise<number>;

  run(send: () => Promise<number>): Promise<number> {
    // The WAIT in flight may have been read by Redis before our write: only the next one is sure to cover it.
    this.next ??= (this.inFlight ? this.inFlight.then(noop, noop) : new Promise<void>((resolve) => setImmediate(resolve))).then(() => {
      this.next = undefined;
      return this.start(send);
    });
    return this.next;
  }

  private start(send: () => Promise<number>): Promise<number> {
    const p = send();
    this.inFlight = p;
    const clear = () => {
      if (this.inFlight === p) this.inFlight = undefined;
    };
    p.then(clear, clear);
    return p;
  }
}

function noop(): void {}

export class ReplicaWait {
  /** No WAIT: acknowledgements as without replicas. */
  static readonly off = new ReplicaWait({ replicas: 0, timeoutMs: 1_000 });

  /** Lanes by connection, then by master ("" on a single Redis). */
  private readonly lanes = new WeakMap<RedisClient, Map<string, WaitLane>>();

  constructor(private readonly opts: ReplicaWaitOptions) {}

  get replicas(): number {
    return this.opts.replicas;
  }

  /**
   * Runs `write` (which notes what it writes in the WrittenKeys it is given; undefined when off),
   * then waits for the replicas. Throws unavailable when fewer confirmed: the writes are applied on
   * the master, but may or may not survive its failover.
   */
  confirm<T>(write: (written: WrittenKeys | undefined) => Promise<T>): Promise<T> {
    // Off: the write's own promise, with no promise around it.
    return this.opts.replicas === 0 ? write(undefined) : this.confirmed(write);
  }

  private async confirmed<T>(write: (written: WrittenKeys) => Promise<T>): Promise<T> {
    const written = new WrittenKeys();
    const out = await write(written);
    await this.waitFor(written);
    return out;
  }

  /** WAIT on every connection (and master) that `written` names, in parallel. */
  async waitFor(written: WrittenKeys): Promise<void> {
    const { replicas, timeoutMs } = this.opts;
    if (replicas === 0 || written.empty) return;
    const waits: Promise<number>[] = [];
    for (const [client, slots] of written.byClient) {
      let lanes = this.lanes.get(client);
      if (!lanes) this.lanes.set(client, (lanes = new Map()));
      if (!isCluster(client)) {
        waits.push(lane(lanes, '').run(() => client.wait(replicas, timeoutMs)));
        continue;
      }
      // One WAIT per master, whichever of its slots the request wrote: on the connection to the
      // master that served the slot when the write's reply came (a MOVED redirect updates the
      // slots cache before the command resolves). Pinned to that connection, never routed again:
      // after a failover, a WAIT on the new master would confirm that connection's own writes,
      // not ours, so a WAIT whose master went away fails (UNAVAILABLE) instead.
      const masters = new Map<string, number>();
      for (const key of slots.values()) {
        const slot = slotOf(key);
        const master = client.slots[slot]?.[0] ?? `slot ${slot}`;
        if (!masters.has(master)) masters.set(master, slot);
      }
      const byKey = new Map(client.nodes('master').map((n) => [`${n.options.host}:${n.options.port}`, n]));
      for (const [master, slot] of masters) {
        const node = byKey.get(master);
        const send = node
          ? () => node.wait(replicas, timeoutMs)
          : // Not connected to it yet (slots just learnt): to the slot's master, by ioredis's routing.
            () => client.sendCommand(new Command('wait', [replicas, timeoutMs]), undefined, { slot }) as Promise<number>;
        waits.push(lane(lanes, master).run(send));
      }
    }
    const reached = Math.min(...(await Promise.all(waits)).map(Number));
    if (reached < replicas) throw shortfall(reached, replicas, timeoutMs);
  }
}

function lane(lanes: Map<string, WaitLane>, key: string): WaitLane {
  let l = lanes.get(key);
  if (!l) lanes.set(key, (l = new WaitLane()));
  return l;
}

function shortfall(reached: number, replicas: number, timeoutMs: number): OrchestratorError {
  return new OrchestratorError(
    'unavailable',
    `replication shortfall: the write reached ${reached} of the ${replicas} replica(s) redis.waitReplicas asks for within ` +
      `redis.waitTimeoutMs (${timeoutMs} ms); it is applied on the Redis master but may or may not survive a failover of that master. ` +
      'Retrying the same request is safe: a submission with the same task_id, a run with the same run_id and a schedule with the same id are idempotent',
    { retryable: true },
  );
}
