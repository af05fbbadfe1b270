/**
 * Bytes in flight in the front end are capped (grpc.maxInFlightBytes): concurrent large
 * SubmitTasks batches, each well below grpc.maxMessageBytes, beyond the cap end
 * RESOURCE_EXHAUSTED with a retry hint, the orchestrator process's peak RSS stays bounded, and
 * the cap frees up again once the calls end.
 */
import { readFileSync } from 'node:fs';
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskInput } from '../src/client/orchestrator-client.js';
import { getText, sample } from './helpers/http.js';
import { waitFor } from './helpers/wait.js';
import { startBareSystem, TEST_CONFIG_TOML, type BareSystem, type OrchestratorProcess } from './helpers/system.js';

const MIB = 1 << 20;
const CAP = 24 * MIB;
const BATCHES = 8;
// 1,000 tasks of 16 KiB: a 16 MiB message, so two never fit under the cap together.
const TASKS_PER_BATCH = 1_000;
const PAYLOAD = 16 << 10;

let sys: BareSystem;
let orch: OrchestratorProcess;
beforeAll(async () => {
  sys = await startBareSystem({
    toml: `${TEST_CONFIG_TOML}\n[grpc]\nmaxInFlightBytes = ${CAP}\n# One stream per caller: a submit stream the cap ended must have given its slot back.\nmaxStreamsPerCaller = 1\n`,
  });
  orch = await sys.startOrchestrator();
});
afterAll(async () => sys?.stop());

/** The process's peak resident set (VmHWM), in bytes. */
function peakRss(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

function batch(tag: string): TaskInput[] {
  return Array.from({ length: TASKS_PER_BATCH }, (_, i) => ({
    taskId: `${tag}-${i}`,
    taskClass: 'cpu_short',
    payload: { data: String.fromCharCode(97 + (i % 26)).repeat(PAYLOAD) },
  }));
}

describe('grpc.maxInFlightBytes', () => {
  it('refuses concurrent batches over the cap with RESOURCE_EXHAUSTED and a retry hint, keeping RSS bounded', async () => {
    const before = peakRss(orch.child.pid!);
    const outcomes = await Promise.allSettled(Array.from({ length: BATCHES }, (_, b) => orch.client.submitTasks(batch(`c${b}`), 60_000)));
    const ok = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as ServiceError] : []));
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(ok.length + refused.length).toBe(BATCHES);
    for (const e of refused) {
      expect(e.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(e.details).toMatch(/grpc\.maxInFlightBytes \(25165824\); retry in about \d+ ms/);
      expect(Number(e.metadata.get('retry-after-ms')[0])).toBeGreaterThan(0);
    }
    // Every accepted batch is whole in Redis; no refused one left a task behind.
    for (const [b, o] of outcomes.entries()) {
      const stored = await sys.r.hexists(sys.keys.taskIndex(`c${b}-0`), `c${b}-0`);
      expect(stored).toBe(o.status === 'fulfilled' ? 1 : 0);
    }
    const peak = peakRss(orch.child.pid!);
    // Eight 16 MiB batches at once: the raw messages arrive (and are decoded) regardless, but only
    // what the cap admits becomes jobs and Redis commands. Measured here: +260 to +340 MiB with
    // the cap, +740 MiB without it.
    expect(peak).toBeLessThan(before + 500 * MIB);
  });

  it('frees the cap when calls end: a retried batch is accepted', async () => {
    await expect(orch.client.submitTasks(batch('retry-a'), 60_000)).resolves.toHaveLength(TASKS_PER_BATCH);
    await expect(orch.client.submitTasks(batch('retry-b'), 60_000)).resolves.toHaveLength(TASKS_PER_BATCH);
  });

  it('lets small calls through while within the cap', async () => {
    await expect(orch.client.health()).resolves.toBeTruthy();
    await expect(orch.client.submitTask({ taskClass: 'cpu_short', payload: { a: '1' } })).resolves.toMatchObject({ created: true });
  });

  it('shows the bytes in flight (none now) and counts the refusals in /metrics', async () => {
    const text = (await getText(`${orch.httpUrl}/metrics`)).body;
    expect(sample(text, 'orq_grpc_in_flight_request_bytes')).toBe(0);
    const refused = sample(
      text,
      'orq_grpc_server_handled_total',
      '{grpc_service="orchestrator.v1.OrchestratorService",grpc_method="SubmitTasks",grpc_type="unary",grpc_code="RESOURCE_EXHAUSTED"}',
    );
    expect(refused).toBeGreaterThanOrEqual(1);
  });

  it('counts each request of a submit stream until its answer: one over the cap ends the call, and its bytes come back', async () => {
    const stream = orch.client.submitStream();
    const answered = await stream.submit({ taskId: 'st-first', taskClass: 'cpu_short', payload: { a: '1' } });
    expect(answered.created).toBe(true);
    // Redis stopped: no request is answered, so the requests' bytes add up until one goes over.
    const pid = sys.redis.pid!;
    process.kill(pid, 'SIGSTOP');
    let outcomes: PromiseSettledResult<unknown>[];
    try {
      const big = (i: number) => ({ taskId: `st-${i}`, taskClass: 'cpu_short', payload: { data: 'x'.repeat(900 << 10) } });
      outcomes = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => stream.submit(big(i))));
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // The call ended RESOURCE_EXHAUSTED with the cap's hint, and every task it had not answered has its error.
    expect(outcomes.every((o) => o.status === 'rejected')).toBe(true);
    for (const o of outcomes) {
      const e = (o as PromiseRejectedResult).reason as ServiceError;
      expect(e.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(e.details).toMatch(/grpc\.maxInFlightBytes \(25165824\); retry in about \d+ ms/);
      expect(Number(e.metadata.get('retry-after-ms')[0])).toBeGreaterThan(0);
    }
    // The requests it had taken are given back once the call ended and their submissions finished.
    await waitFor(async () => sample((await getText(`${orch.httpUrl}/metrics`)).body, 'orq_grpc_in_flight_request_bytes') === 0, {
      message: 'the in-flight bytes back to 0',
    });
    // A new call (opened by the next submit) is answered.
    expect(await stream.submit({ taskId: 'st-after', taskClass: 'cpu_short', payload: { a: '1' } })).toMatchObject({ created: true });
    await stream.close();
  });
});
