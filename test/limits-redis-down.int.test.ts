/**
 * Redis going away mid-call is UNAVAILABLE, always: a real redis-server is killed (SIGKILL)
 * while SubmitTask calls are in flight against an orchestrator child process, then started again
 * on the same port. Every call ends OK or UNAVAILABLE (never INTERNAL, never UNKNOWN), so a client
 * that retries UNAVAILABLE with the same task id loses nothing; and the process serves on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRedisServerProcess, type RedisServerProcess } from '../src/redis/redis-server-process.js';
import { startBareSystem, type BareSystem, type OrchestratorProcess } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

/** Concurrent callers, each one call at a time. */
const CALLERS = 16;

let sys: BareSystem;
let orch: OrchestratorProcess;
let restarted: RedisServerProcess | undefined;
const restartDir = mkdtempSync(join(tmpdir(), 'orq-redis-again-'));
beforeAll(async () => {
  sys = await startBareSystem();
  orch = await sys.startOrchestrator();
}, 60_000);
afterAll(async () => {
  await sys?.stop();
  await restarted?.stop();
  rmSync(restartDir, { recursive: true, force: true });
});

it('answers every SubmitTask OK or UNAVAILABLE while Redis is killed and restarted', async () => {
  const codes = new Map<number, number>();
  const others: string[] = [];
  const count = (code: number) => codes.set(code, (codes.get(code) ?? 0) + 1);
  let stop = false;
  let seq = 0;
  const caller = async (n: number) => {
    while (!stop) {
      const taskId = `down-${n}-${++seq}`;
      try {
        await orch.client.submitTask({ taskId, taskClass: 'cpu_short', payload: { n: String(n) }, delayMs: 3_600_000 });
        count(status.OK);
      } catch (err) {
        const e = err as ServiceError;
        count(e.code);
        if (e.code !== status.UNAVAILABLE) others.push(`${e.code}: ${e.details}`);
        // Not a busy loop against a refusing server: the next call after a short pause.
        if (e.code === status.UNAVAILABLE) await new Promise((r) => setImmediate(r));
      }
    }
  };
  const callers = Array.from({ length: CALLERS }, (_, n) => caller(n));

  await waitFor(() => (codes.get(status.OK) ?? 0) >= 200, { timeoutMs: 30_000, message: 'no calls succeeded before the kill' });
  process.kill(sys.redis.pid!, 'SIGKILL');
  await waitFor(() => (codes.get(status.UNAVAILABLE) ?? 0) >= 50, { timeoutMs: 30_000, message: 'no UNAVAILABLE while Redis was down' });
  const okBefore = codes.get(status.OK) ?? 0;
  restarted = await startRedisServerProcess({ port: sys.redis.port, dir: restartDir, unref: true });
  await waitFor(() => (codes.get(status.OK) ?? 0) >= okBefore + 200, { timeoutMs: 60_000, message: 'calls did not succeed again after the restart' });
  stop = true;
  await Promise.all(callers);

  expect(others, `codes other than UNAVAILABLE: ${others.slice(0, 5).join('; ')}`).toEqual([]);
  expect([...codes.keys()].sort()).toEqual([status.OK, status.UNAVAILABLE]);
  expect(orch.child.exitCode).toBeNull();
  expect((await orch.client.submitTask({ taskId: 'after-restart', taskClass: 'cpu_short', payload: { a: '1' } })).created).toBe(true);
}, 150_000);
