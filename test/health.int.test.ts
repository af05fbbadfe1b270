/**
 * Health, GetMetrics, the standard grpc.health.v1 service and server reflection, through real
 * gRPC clients.
 */
import { credentials, loadPackageDefinition, Server, ServerCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEALTH_PROTO } from '../src/paths.js';
import { ServingStatus } from '../src/client/orchestrator-client.js';
import { VERSION } from '../src/version.js';
import { HealthService, ServingStatus as HealthStatus } from '../src/grpc/health-service.js';
import { HealthClient, type HealthCheckResponse } from '../src/gen/grpc/health/v1/health.js';
import pkg from '../package.json' with { type: 'json' };
import { startSystem, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => sys?.stop());

describe('Health', () => {
  it('is SERVING with no pools and no work, DEGRADED while work waits unserved, SERVING per class once a pool serves it', async () => {
    // Nothing is wrong with no pools while no work waits (test/contract.int.test.ts has the rule in full).
    const before = await sys.client.health();
    expect(before.status).toBe(ServingStatus.SERVING_STATUS_SERVING);
    expect(before.version).toBe(VERSION);
    expect(VERSION).toBe(pkg.version);
    expect(before.components.find((c) => c.name === 'redis')?.status).toBe(ServingStatus.SERVING_STATUS_SERVING);
    expect(before.components.find((c) => c.name === 'pools')?.detail).toContain('0 pool');
    const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { h: '1' } });
    const waiting = await sys.client.health();
    expect(waiting.status).toBe(ServingStatus.SERVING_STATUS_DEGRADED);
    expect(waiting.components.find((c) => c.name === 'queue:cpu_short')?.status).toBe(ServingStatus.SERVING_STATUS_DEGRADED);
    await sys.startPool({ classes: 'cpu_short:2' });
    const after = await sys.client.health();
    expect(after.components.find((c) => c.name === 'queue:cpu_short')?.status).toBe(ServingStatus.SERVING_STATUS_SERVING);
    expect(after.components.find((c) => c.name === 'pools')?.detail).toContain('1 pool');
    expect(after.uptimeMs).toBeGreaterThanOrEqual(0);
    await sys.client.waitForResult(taskId);
  });

  it('GetMetrics reports at least 17 named figures that follow the work', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { m: '1' } });
    await sys.client.waitForResult(taskId);
    const m = (await sys.client.getMetrics()).metrics;
    expect(Object.keys(m).length).toBeGreaterThanOrEqual(17);
    for (const name of [
      'queue_waiting{class="cpu_short"}',
      'queue_active{class="cpu_short"}',
      'queue_delayed{class="cpu_short"}',
      'pools',
      'events_stream_length',
      'results_stream_length',
      'uptime_seconds',
    ]) {
      expect(m).toHaveProperty([name]);
    }
    expect(m['queue_completed{class="cpu_short"}']).toBeGreaterThanOrEqual(1);
    expect(m['tasks_submitted_total{class="cpu_short"}']).toBeGreaterThanOrEqual(1);
    expect(m['tasks_succeeded_total{class="cpu_short"}']).toBeGreaterThanOrEqual(1);
    expect(m['pool_concurrency{class="cpu_short"}']).toBe(2);
    expect(m.results_stream_length).toBeGreaterThanOrEqual(1);
  });

  it('serves grpc.health.v1.Health for probes', async () => {
    const def = loadPackageDefinition(loadSync(HEALTH_PROTO, { enums: String })) as any;
    const health = new def.grpc.health.v1.Health(sys.addr, credentials.createInsecure());
    const check = (service: string) =>
      new Promise<{ status: string }>((resolve, reject) =>
        health.Check({ service }, (err: ServiceError | null, res: { status: string }) => (err ? reject(err) : resolve(res))),
      );
    expect((await check('')).status).toBe('SERVING');
    expect((await check('orchestrator.v1.OrchestratorService')).status).toBe('SERVING');
    health.close();
  });

  // Built on the first call (src/grpc/lazy-reflection.ts): both versions answer, whichever comes first.
  it.each(['v1alpha', 'v1'])('serves reflection (%s) listing the orchestrator service', async (version) => {
    const reflectionProto = loadSync(`grpc/reflection/${version}/reflection.proto`, {
      includeDirs: [new URL('../node_modules/@grpc/reflection/build/proto', import.meta.url).pathname],
    });
    const def = loadPackageDefinition(reflectionProto) as any;
    const client = new def.grpc.reflection[version].ServerReflection(sys.addr, credentials.createInsecure());
    const call = client.ServerReflectionInfo();
    const names = await new Promise<string[]>((resolve, reject) => {
      call.on('data', (res: any) => {
        resolve(res.listServicesResponse.service.map((s: { name: string }) => s.name));
        call.end();
      });
      call.on('error', reject);
      call.write({ listServices: '*' });
    });
    expect(names).toContain('orchestrator.v1.OrchestratorService');
    expect(names).toContain('grpc.health.v1.Health');
    client.close();
  });
});

describe('grpc.health.v1 as the protocol says (src/grpc/health-service.ts)', () => {
  let server: Server;
  let client: HealthClient;
  const health = new HealthService({ '': HealthStatus.SERVING, known: HealthStatus.NOT_SERVING });
  beforeAll(async () => {
    server = new Server();
    health.addToServer(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    client = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  afterAll(() => {
    client?.close();
    server?.forceShutdown();
  });

  const check = (service: string) =>
    new Promise<HealthCheckResponse>((resolve, reject) => client.check({ service }, (err, res) => (err ? reject(err) : resolve(res))));

  it('Check answers a known service and NOT_FOUND for an unknown one', async () => {
    expect((await check('')).status).toBe(HealthStatus.SERVING);
    expect((await check('known')).status).toBe(HealthStatus.NOT_SERVING);
    expect(((await check('other').catch((e: unknown) => e)) as ServiceError).code).toBe(status.NOT_FOUND);
  });

  it('Watch sends the current status at once, SERVICE_UNKNOWN for an unknown service, then each change', async () => {
    const seen: Record<string, HealthStatus[]> = { known: [], later: [] };
    const calls = Object.keys(seen).map((service) => {
      const call = client.watch({ service });
      call.on('data', (r: HealthCheckResponse) => seen[service]!.push(r.status));
      call.on('error', () => undefined);
      return call;
    });
    await waitFor(() => seen.known!.length === 1 && seen.later!.length === 1);
    health.setStatus('known', HealthStatus.SERVING);
    health.setStatus('later', HealthStatus.SERVING);
    await waitFor(() => seen.known!.length === 2 && seen.later!.length === 2);
    expect(seen).toEqual({ known: [HealthStatus.NOT_SERVING, HealthStatus.SERVING], later: [HealthStatus.SERVICE_UNKNOWN, HealthStatus.SERVING] });
    for (const call of calls) call.cancel();
  });

  it('List answers every service', async () => {
    const res = await new Promise<Record<string, HealthCheckResponse>>((resolve, reject) =>
      client.list({}, (err, r) => (err ? reject(err) : resolve(r.statuses))),
    );
    expect(res).toEqual({ '': { status: HealthStatus.SERVING }, known: { status: HealthStatus.SERVING }, later: { status: HealthStatus.SERVING } });
  });
});

describe('Redis down', () => {
  it('answers UNAVAILABLE for a submit and NOT_SERVING for health while Redis is gone', async () => {
    await sys.redis.stop();
    const h = await sys.client.health();
    expect(h.status).toBe(ServingStatus.SERVING_STATUS_NOT_SERVING);
    await waitFor(async () => {
      try {
        await sys.client.submitTask({ taskClass: 'cpu_short', payload: { a: '1' } });
        return false;
      } catch (err) {
        return (err as ServiceError).code === 14;
      }
    });
  });
});
