/**
 * One shared reader per feed stream: many subscribers on a constant number of Redis connections,
 * a subscriber from an old cursor handed over from catch-up to the live tail with every entry
 * exactly once, the stream caps, and a slow subscriber ended with a status it can resume from.
 */
import { readFileSync } from 'node:fs';
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrchestratorClient, type TaskEvent, type TaskResult } from '../src/client/orchestrator-client.js';
import type { Config } from '../src/config/config.js';
import { eventFields } from '../src/store/codecs/feed-format.js';
import { createLogger } from '../src/logging/logger.js';
import { Orchestrator } from '../src/orchestrator.js';
import { startBareSystem, TEST_CONFIG_TOML, type BareSystem, type OrchestratorProcess } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';
import { readUntilEnded } from './helpers/grpc-streams.js';

let sys: BareSystem;
let orch: OrchestratorProcess;
const inProcess: Orchestrator[] = [];
const clients: OrchestratorClient[] = [];

beforeAll(async () => {
  // Every test client is 127.0.0.1, one caller by address: room for the 1,000 streams below.
  sys = await startBareSystem({ toml: `${TEST_CONFIG_TOML}\n[grpc]\nmaxStreamsPerCaller = 5000\n` });
  orch = await sys.startOrchestrator();
  await sys.startPool({ classes: 'inproc:8' });
}, 120_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(inProcess.map((o) => o.close(500)));
  await sys?.stop();
});

function client(addr: string, token?: string): OrchestratorClient {
  const c = new OrchestratorClient(addr, { defaultDeadlineMs: 20_000, token });
  clients.push(c);
  return c;
}

/** An orchestrator in this process on the suite's Redis, with its own config changes. */
async function orchestratorWith(grpc: Partial<Config['grpc']>): Promise<string> {
  const config = { ...sys.config, grpc: { ...sys.config.grpc, ...grpc } } as Config;
  const o = new Orchestrator({ config, redisUrl: sys.redis.url, logger: createLogger('silent') });
  await o.start();
  inProcess.push(o);
  return `127.0.0.1:${o.grpcPort}`;
}

async function redisClients(): Promise<number> {
  return ((await sys.r.client('LIST')) as string).trim().split('\n').length;
}

function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;
  return Number(kb) * 1024;
}

/** Appends events of workflow `wf` straight to the events stream (as pools and the engine do); returns their ids. */
async function writeEvents(wf: string, n: number, from = 0): Promise<string[]> {
  const p = sys.r.pipeline();
  for (let i = from; i < from + n; i++) {
    p.xadd(
      sys.keys.events,
      '*',
      ...eventFields({ type: 'progress', taskId: `${wf}-${i}`, taskClass: 'inproc', attempt: 1, atMs: Date.now(), workflowId: wf, detail: String(i) }),
    );
  }
  return ((await p.exec()) ?? []).map(([err, id]) => {
    if (err) throw err;
    return id as string;
  });
}

/**
 * Reads a stream until `done` says so, leaving the call open (a for-await loop left early would
 * cancel it); the error it ended with, if any.
 */
async function collect<T>(stream: AsyncIterable<T>, into: T[], done: (x: T) => boolean): Promise<ServiceError | undefined> {
  const it = stream[Symbol.asyncIterator]();
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) return undefined;
      into.push(r.value);
      if (done(r.value)) return undefined;
    }
  } catch (err) {
    return err as ServiceError;
  }
}

describe('one tailer per stream', () => {
  it('serves 1,000 concurrent streams on the same Redis connections, with bounded memory', async () => {
    const c0 = client(orch.addr);
    // Warm up: one of each stream kind, so both shared readers run before counting.
    const warm = await c0.submitTask({ taskClass: 'inproc', payload: { warm: '1' } });
    await c0.waitForResult(warm.taskId, { timeoutMs: 20_000 });
    const warmEvents = c0.streamEvents({ cursor: '0' });
    for await (const _ of warmEvents) break;
    const connectionsBefore = await redisClients();
    const rssBefore = rssBytes(orch.child.pid!);

    const cursor = ((await sys.r.xrevrange(sys.keys.events, '+', '-', 'COUNT', 1)) as [string, string[]][])[0]![0];
    const ids = Array.from({ length: 20 }, (_, i) => `many-${i}`);
    const callers = Array.from({ length: 4 }, () => client(orch.addr));
    const streams: { cancel(): void }[] = [];
    const eventsSeen: Promise<number>[] = [];
    const resultsSeen: Promise<string>[] = [];
    for (let i = 0; i < 500; i++) {
      const c = callers[i % callers.length]!;
      // Events of all 20 tasks, each from a cursor taken before they were submitted.
      const ev = c.streamEvents({ types: ['succeeded'], taskIds: ids, cursor });
      streams.push(ev);
      const got: TaskEvent[] = [];
      eventsSeen.push(collect(ev, got, () => got.length === ids.length).then(() => new Set(got.map((e) => e.taskId)).size));
      // The result of one task, as waitForResult asks for it (but left open).
      const taskId = ids[i % ids.length]!;
      const res = c.streamTaskResults({ taskIds: [taskId] });
      streams.push(res);
      const one: TaskResult[] = [];
      resultsSeen.push(collect(res, one, () => true).then(() => (one[0]?.taskId === taskId ? 'ok' : `missing ${taskId}`)));
    }
    await c0.submitTasks(ids.map((taskId) => ({ taskId, taskClass: 'inproc', payload: { id: taskId } })));
    expect(await Promise.all(eventsSeen)).toEqual(Array(500).fill(20));
    expect(await Promise.all(resultsSeen)).toEqual(Array(500).fill('ok'));

    // Streams that got their items are still open (the loops above stopped reading, not the calls).
    const connectionsDuring = await redisClients();
    const rssDuring = rssBytes(orch.child.pid!);
    console.log(
      `1,000 streams: redis clients ${connectionsBefore} -> ${connectionsDuring}, orchestrator RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> ${(rssDuring / 2 ** 20).toFixed(0)} MiB`,
    );
    expect(connectionsDuring).toBe(connectionsBefore);
    expect(rssDuring - rssBefore).toBeLessThan(150 * 2 ** 20);
    for (const s of streams) s.cancel();
    warmEvents.cancel();
  }, 120_000);

  it('hands a subscriber from an old cursor over to the live tail with every entry exactly once', async () => {
    const c = client(orch.addr);
    const wf = `handover-${Date.now()}`;
    const written: string[] = [];
    const streams: { cancel(): void }[] = [];
    const subs: { got: TaskEvent[]; resumes: number; failure?: ServiceError }[] = [];
    /**
     * A client as it should be written: on RESOURCE_EXHAUSTED (it fell behind, which a loaded
     * machine can make it) it calls again from the last cursor it received.
     */
    const follow = async (sub: (typeof subs)[number]) => {
      for (;;) {
        const stream = c.streamEvents({ workflowId: wf, cursor: sub.got.at(-1)?.cursor ?? '0' });
        streams.push(stream);
        const err = await collect(stream, sub.got, () => false);
        if (err?.code !== status.RESOURCE_EXHAUSTED) {
          sub.failure = err;
          return;
        }
        sub.resumes++;
      }
    };
    // Subscribers join from the start while entries keep coming: each catches up with XRANGE
    // pages, then switches to the shared reader, at a different point of the writing.
    const total = 3000;
    for (let i = 0; i < total; i += 100) {
      written.push(...(await writeEvents(wf, 100, i)));
      if (i % 500 === 0) {
        const sub = { got: [] as TaskEvent[], resumes: 0 };
        subs.push(sub);
        void follow(sub);
      }
    }
    await waitFor(
      () => {
        const failed = subs.find((s) => s.failure);
        if (failed) throw new Error(`a subscriber's stream ended: ${failed.failure?.message}`);
        return subs.every((s) => s.got.length >= total);
      },
      { timeoutMs: 30_000, message: 'a subscriber fell short' },
    );
    for (const sub of subs) expect(sub.got.map((e) => e.cursor)).toEqual(written);
    console.log(`handover: ${subs.length} subscribers, resumed ${subs.map((s) => s.resumes).join(', ')} times`);
    for (const s of streams) s.cancel();
  }, 60_000);
});

describe('the shared reader', () => {
  it('rides out its Redis connection being killed: subscribers get what was written meanwhile, once', async () => {
    const c = client(orch.addr);
    const wf = `killed-${Date.now()}`;
    const written = await writeEvents(wf, 1);
    const got: TaskEvent[] = [];
    const stream = c.streamEvents({ workflowId: wf, cursor: '0' });
    await collect(stream, got, () => true);
    // Every reader of the events stream on this Redis loses its connection.
    const list = (await sys.r.client('LIST')) as string;
    const ids = [...list.matchAll(/^id=(\d+) .*name=orq-tail-events /gm)].map((m) => m[1]!);
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) await sys.r.client('KILL', 'ID', id);
    written.push(...(await writeEvents(wf, 50, 1)));
    await collect(stream, got, () => got.length === written.length);
    expect(got.map((e) => e.cursor)).toEqual(written);
    stream.cancel();
  }, 60_000);
});

describe('stream caps', () => {
  it('refuses streams beyond grpc.maxStreamsPerCaller per token and grpc.maxStreams in all', async () => {
    const [a, b] = ['token-a-0123456789abcdef', 'token-b-0123456789abcdef'];
    const addr = await orchestratorWith({
      maxStreams: 3,
      maxStreamsPerCaller: 2,
      auth: { tokens: [a, b].map((token) => ({ token, role: 'read' as const })), tokensFile: '' },
    });
    await writeEvents(`caps-${Date.now()}`, 1);
    const [ca1, ca2, cb] = [client(addr, a), client(addr, a), client(addr, b)];
    /** Opens a stream from the oldest entry: an admitted one yields that entry at once. */
    const open = async (c: OrchestratorClient) => {
      const s = c.streamEvents({ cursor: '0' });
      const it = s[Symbol.asyncIterator]();
      try {
        await it.next();
        return { ok: true as const, s };
      } catch (err) {
        return { ok: false as const, err: err as ServiceError };
      }
    };
    const a1 = await open(ca1);
    const a2 = await open(ca2);
    expect([a1.ok, a2.ok]).toEqual([true, true]);
    // Token a holds two, from two connections: a third is over its share.
    const a3 = await open(ca1);
    expect(a3.ok).toBe(false);
    expect(a3.ok === false && a3.err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(a3.ok === false && a3.err.details).toContain('grpc.maxStreamsPerCaller');
    // Token b has its own share, but the server's three are taken after its first.
    const b1 = await open(cb);
    expect(b1.ok).toBe(true);
    const b2 = await open(cb);
    expect(b2.ok === false && b2.err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(b2.ok === false && b2.err.details).toContain('grpc.maxStreams');
    // A stream that ends gives its slot back.
    if (a1.ok) a1.s.cancel();
    await waitFor(async () => (await open(cb)).ok, { timeoutMs: 10_000, message: 'the slot never came back' });
  }, 60_000);

  it('counts callers without a token by address', async () => {
    const addr = await orchestratorWith({ maxStreamsPerCaller: 1 });
    await writeEvents(`peer-${Date.now()}`, 1);
    const [c1, c2] = [client(addr), client(addr)];
    await collect(c1.streamEvents({ cursor: '0' }), [], () => true);
    const err = await collect(c2.streamEvents({ cursor: '0' }), [], () => true);
    expect(err?.code).toBe(status.RESOURCE_EXHAUSTED);
  }, 30_000);
});

describe('a subscriber that cannot keep up', () => {
  it('ends with RESOURCE_EXHAUSTED naming its cursor, and resuming from its last cursor misses nothing', async () => {
    const addr = await orchestratorWith({ streamBufferEntries: 50 });
    const c = client(addr);
    const wf = `slow-${Date.now()}`;
    const first = await writeEvents(wf, 1);
    const stream = c.streamEvents({ workflowId: wf, cursor: '0' });
    const it = stream[Symbol.asyncIterator]();
    const got: TaskEvent[] = [(await it.next()).value as TaskEvent];
    // The client stops reading; gRPC flow control holds the server back, and its buffer fills.
    const written = [...first];
    for (let i = 1; i < 5000; i += 500) written.push(...(await writeEvents(wf, 500, i)));
    const ended = await readUntilEnded(it, got);
    expect(ended?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(ended?.details).toContain('resume from the last cursor received');
    expect(got.length).toBeLessThan(written.length);
    // Resume: the rest, from the last cursor this client received, once each.
    const rest: TaskEvent[] = [];
    const last = written.at(-1)!;
    const resumeErr = await collect(c.streamEvents({ workflowId: wf, cursor: got.at(-1)!.cursor }), rest, (e) => e.cursor === last);
    expect(resumeErr).toBeUndefined();
    expect([...got, ...rest].map((e) => e.cursor)).toEqual(written);
  }, 60_000);
});

describe('waitForResult', () => {
  it('a client waiting for 2,000 results keeps its other streams: waitForResult resets no stream', async () => {
    // Node's HTTP/2 server closes a connection whose client resets streams at a high rate
    // (rapid-reset protection), with every call on it; a wait that cancelled its stream after
    // the result did so once per call.
    const c = client(orch.addr);
    const ids = Array.from({ length: 2_000 }, (_, i) => `many-waits-${i}`);
    await c.submitTasks(ids.map((taskId) => ({ taskId, taskClass: 'inproc', payload: { id: taskId } })));
    const seen: string[] = [];
    const follower = c.streamEvents({ types: ['submitted'], taskClasses: ['inproc'] });
    const followed = (async () => {
      try {
        for await (const e of follower) seen.push(e.taskId);
        return 'ended';
      } catch (err) {
        return err;
      }
    })();
    // A probe task's event arrives on the stream: once it is attached (it starts at the tail,
    // so probes before it are missed), and again after the waits.
    const probe = () =>
      waitFor(
        async () => {
          const { taskId } = await c.submitTask({ taskClass: 'inproc', payload: { probe: '1' } });
          return waitFor(() => seen.includes(taskId), { timeoutMs: 2_000 }).then(
            () => true,
            () => false,
          );
        },
        { timeoutMs: 30_000, message: 'no probe event on the stream' },
      );
    await probe();
    for (let i = 0; i < ids.length; i += 250) await Promise.all(ids.slice(i, i + 250).map((id) => c.waitForResult(id, { timeoutMs: 60_000 })));
    // The stream opened before the waits still delivers.
    await probe();
    follower.cancel();
    expect(await followed).toBe('ended');
  });
});
