/**
 * The status a Redis failure becomes (src/grpc/status.ts), for errors raised by a real
 * redis-server and real ioredis connections: killed mid-command, refusing connections, busy with
 * a script, out of memory, answering a script error. Matched by class and reply code, never by
 * words in a message: a script error whose text says "ECONNREFUSED" is still INTERNAL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { toServiceError } from '../src/grpc/status.js';
import { freeLoopbackPort, startRedisServerProcess, type RedisServerProcess } from '../src/redis/redis-server-process.js';
import { OrchestratorError } from '../src/errors/errors.js';
import { waitFor } from './helpers/wait.js';

const dirs: string[] = [];
const servers: RedisServerProcess[] = [];
const clients: Redis[] = [];

async function server(extraArgs: string[] = []): Promise<RedisServerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'orq-status-'));
  dirs.push(dir);
  const s = await startRedisServerProcess({ port: await freeLoopbackPort(), dir, extraArgs, unref: true });
  servers.push(s);
  return s;
}

/** Connections as the orchestrator opens them (createFailFastRedis): no offline queue, one retry. */
function failFast(url: string, extra: Record<string, unknown> = {}): Redis {
  const r = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true, ...extra });
  r.on('error', () => undefined);
  clients.push(r);
  return r;
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the command to fail');
}

afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('Redis gone is UNAVAILABLE', () => {
  it('for a command in flight when the server is killed, and for the next one', async () => {
    const s = await server();
    const r = failFast(s.url);
    const watcher = failFast(s.url);
    await Promise.all([r.connect(), watcher.connect()]);
    const inFlight = failure(r.blpop('never-filled', 0));
    await waitFor(async () => String(await watcher.client('LIST')).includes('cmd=blpop'), { message: 'the BLPOP never reached the server' });
    s.kill();
    const err = await inFlight;
    expect(toServiceError(err).code, String(err)).toBe(status.UNAVAILABLE);
    const next = await failure(r.get('k'));
    expect(toServiceError(next).code, String(next)).toBe(status.UNAVAILABLE);
  });

  it('for a connection refused, with and without retries per request', async () => {
    const port = await freeLoopbackPort();
    const fast = failFast(`redis://127.0.0.1:${port}`);
    const refused = await failure(fast.connect());
    expect(toServiceError(refused).code, String(refused)).toBe(status.UNAVAILABLE);
    const queued = new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    queued.on('error', () => undefined);
    clients.push(queued);
    const maxRetries = await failure(queued.get('k'));
    expect((maxRetries as Error).name).toBe('MaxRetriesPerRequestError');
    expect(toServiceError(maxRetries).code).toBe(status.UNAVAILABLE);
  });

  it('for a server busy running a script (BUSY), and when wrapped as a cause', async () => {
    const s = await server(['--lua-time-limit', '50']);
    const looper = failFast(s.url);
    const other = failFast(s.url);
    await Promise.all([looper.connect(), other.connect()]);
    const spinning = failure(looper.eval('while true do end', 0));
    let busy: unknown;
    for (const deadline = Date.now() + 10_000; !busy && Date.now() < deadline;) {
      busy = await other.ping().then(
        () => undefined,
        (err: unknown) => err,
      );
    }
    expect(String(busy)).toMatch(/^ReplyError: BUSY/);
    expect(toServiceError(busy).code).toBe(status.UNAVAILABLE);
    expect(toServiceError(new Error('claim failed', { cause: busy })).code).toBe(status.UNAVAILABLE);
    await other.script('KILL');
    await spinning;
  });
});

describe('Redis answering is not UNAVAILABLE', () => {
  it('a script error is INTERNAL, whatever words its message has', async () => {
    const s = await server();
    const r = failFast(s.url);
    await r.connect();
    await r.set('str', 'x');
    const wrongType = await failure(r.eval("return redis.call('HGET', KEYS[1], 'f')", 1, 'str'));
    expect(toServiceError(wrongType).code).toBe(status.INTERNAL);
    const lookalike = await failure(r.eval("return redis.error_reply('ECONNREFUSED Connection is closed')", 0));
    expect(toServiceError(lookalike).code).toBe(status.INTERNAL);
  });

  it('an out-of-memory refusal is RESOURCE_EXHAUSTED', async () => {
    const s = await server(['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction']);
    const r = failFast(s.url);
    await r.connect();
    let oom: unknown;
    for (let i = 0; i < 100 && !oom; i++)
      oom = await r.set(`big-${i}`, 'x'.repeat(256 << 10)).then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(String(oom)).toMatch(/^ReplyError: OOM/);
    expect(toServiceError(oom).code).toBe(status.RESOURCE_EXHAUSTED);
    expect(toServiceError(oom).metadata?.get('retry-after-ms')).toEqual(['5000']);
  });

  it('a stack overflow inside a request is INTERNAL, and a typed error keeps its code', () => {
    const deep = (n: number): number => deep(n + 1) + 1;
    let overflow: unknown;
    try {
      deep(0);
    } catch (err) {
      overflow = err;
    }
    expect(toServiceError(overflow).code).toBe(status.INTERNAL);
    expect(toServiceError(new OrchestratorError('unavailable', 'x')).code).toBe(status.UNAVAILABLE);
  });
});
