/**
 * The env-manager against the real Docker engine, with an image the suite builds (no pulls):
 * dependency order up and down, health checks that pass late or never, a service killed from
 * outside and restarted by the watcher, idempotent starts, a changed definition recreated, and
 * every method of the gRPC service, with StreamServiceEvents during a restart; /metrics moving
 * with a restart and with failed checks (and passing promtool); bearer tokens and TLS on the
 * env-manager's gRPC server, with orchctl env.
 *
 * Every test runs concurrently with the others: each has a Docker project (container label) of
 * its own and a manager, server or process of its own, and most of a test is waiting on the
 * engine and on 200 ms health checks, which then overlap.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigInput } from '../src/config/config.js';
import type { DockerClient } from '../src/docker/docker-client.js';
import { EnvManagerProcess } from '../src/env-manager-process.js';
import { EnvManager, type ServiceEventRecord } from '../src/env-manager/env-manager.js';
import { LABEL_PROJECT } from '../src/env-manager/service-container.js';
import { parseServiceFile } from '../src/env-manager/service-file.js';
import * as pb from '../src/gen/envmanager/v1/envmanager.js';
import { EnvManagerServer } from '../src/grpc/env-manager-service.js';
import { createLogger } from '../src/logging/logger.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { dockerForTests, ensureTestImage, TEST_IMAGE } from './helpers/docker.js';
import { makeTestCerts } from './helpers/certs.js';
import { grpcError, healthCheck } from './helpers/grpc.js';
import { getText, promtool, runPromtool, sample } from './helpers/http.js';
import { orchctl as runOrchctl } from './helpers/orchctl.js';
import { waitFor } from './helpers/wait.js';

const docker: DockerClient | undefined = await dockerForTests('env-manager');
const PROJECT = `orqenv${process.pid}`;
const logger = createLogger('warn', { process: 'test-env-manager' });
const managers: EnvManager[] = [];
const PROMTOOL = promtool();

beforeAll(async () => {
  if (docker) await ensureTestImage(docker);
});

afterAll(async () => {
  await Promise.all(managers.map((m) => m.close()));
  if (!docker) return;
  for (const c of await docker.containersLabelled({ [LABEL_PROJECT]: PROJECT })) await docker.remove(c.Id);
});

/**
 * What a test service runs: a sleep that ends on SIGTERM. A bare `sleep` as the container's
 * PID 1 ignores SIGTERM, so every stop waited out the whole stopGrace before Docker's SIGKILL.
 */
const SLEEPER = `command = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`;

/** A service that sleeps; its health check is a command run inside it. */
function service(name: string, extra = '', check = 'command = ["true"]'): string {
  return `
[services.${name}]
image = "${TEST_IMAGE}"
${SLEEPER}
network = "none"
${extra.includes('startTimeout') ? '' : 'startTimeout = "20s"'}
${extra}
[services.${name}.healthcheck]
kind = "command"
${check}
interval = "200ms"
retries = 2
`;
}

function manager(toml: string, project = PROJECT): { m: EnvManager; events: ServiceEventRecord[] } {
  const file = parseServiceFile(`[settings]\nproject = "${project}"\nstopGrace = "1s"\n${toml}`, 'test.toml');
  const m = new EnvManager({ docker: docker!, file, logger, maxBackoffMs: 1_000 });
  managers.push(m);
  const events: ServiceEventRecord[] = [];
  m.subscribe((e) => events.push(e));
  return { m, events };
}

/** orchctl against the env-manager at `addr`. */
const orchctl = (addr: string, ...args: string[]) => runOrchctl(['--env-addr', addr, '--deadline-ms', '5000', ...args]);

const at = (events: ServiceEventRecord[], service: string, type: string) => events.findIndex((e) => e.service === service && e.type === type);

describe.skipIf(!docker)('env-manager', { concurrent: true, timeout: 120_000 }, () => {
  it('starts A -> B -> C in dependency order, each healthy before the next, and stops them in reverse', async () => {
    const { m, events } = manager(service('c', 'depends_on = ["b"]') + service('a') + service('b', 'depends_on = ["a"]'), `${PROJECT}abc`);
    const up = await m.up();
    expect(up.map((s) => [s.name, s.state])).toEqual([
      ['a', 'healthy'],
      ['b', 'healthy'],
      ['c', 'healthy'],
    ]);
    expect(at(events, 'a', 'healthy')).toBeLessThan(at(events, 'b', 'created'));
    expect(at(events, 'b', 'healthy')).toBeLessThan(at(events, 'c', 'created'));
    const down = await m.down();
    expect(down.every((s) => s.state === 'absent')).toBe(true);
    const stopped = events.filter((e) => e.type === 'stopped').map((e) => e.service);
    expect(stopped).toEqual(['c', 'b', 'a']);
    await m.close();
  });

  it('waits out a health check that fails until the third try', async () => {
    const check = `command = ["sh", "-c", "n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; echo try $n; [ $n -ge 3 ]"]`;
    const { m, events } = manager(service('late', 'volumes = []', check).replace(SLEEPER, SLEEPER.replace('trap', 'mkdir -p /tmp; trap')), `${PROJECT}late`);
    const [s] = await m.up(['late']);
    expect(s!.state).toBe('healthy');
    expect(s!.healthOutput).toBe('try 3');
    expect(m.figures()[0]).toMatchObject({ checks: 3, checkFailures: 2 });
    expect(events.filter((e) => e.service === 'late' && e.type === 'healthy')).toHaveLength(1);
    await m.down();
    await m.close();
  });

  it('fails the start of a service that never gets healthy, with its health output, and rolls back when configured', async () => {
    const toml = `[settings]\nproject = "${PROJECT}never"\nstopGrace = "1s"\nonStartFailure = "rollback"\n${service('base')}${service('never', 'depends_on = ["base"]\nstartTimeout = "2s"', 'command = ["sh", "-c", "echo not ready yet; exit 1"]')}${service('after', 'depends_on = ["never"]')}`;
    const m = new EnvManager({ docker: docker!, file: parseServiceFile(toml, 'never.toml'), logger, maxBackoffMs: 500 });
    managers.push(m);
    await expect(m.up()).rejects.toThrow(/service never did not get healthy within 2000 ms; last health check: .*not ready yet/);
    // Rolled back: what this start created is gone; the dependent never started.
    const states = await m.list();
    expect(states.map((s) => [s.name, s.state])).toEqual([
      ['base', 'absent'],
      ['never', 'absent'],
      ['after', 'absent'],
    ]);
    await m.close();
  });

  it('restarts a service killed from outside, and is idempotent on a second start', async () => {
    const { m, events } = manager(service('victim', 'restart = "always"'), `${PROJECT}victim`);
    const [first] = await m.up();
    const again = await m.up();
    expect(again[0]!.containerId).toBe(first!.containerId);
    expect(at(events, 'victim', 'unchanged')).toBeGreaterThan(-1);

    await docker!.api.getContainer(first!.containerId).kill();
    await waitFor(
      async () => {
        const s = await m.status('victim');
        return s.state === 'healthy' && s.containerId !== first!.containerId && s.restarts === 1;
      },
      { timeoutMs: 30_000, message: 'the watcher never restarted the killed service' },
    );
    const order = ['exited', 'restarting', 'started', 'healthy'].map((t) =>
      events.findIndex((e, i) => i > at(events, 'victim', 'unchanged') && e.service === 'victim' && e.type === t),
    );
    expect(order.every((i, k) => i > -1 && (k === 0 || i > order[k - 1]!))).toBe(true);
    await m.down();
    await m.close();
  });

  it('recreates a service whose definition changed, and leaves an unchanged one alone', async () => {
    const project = `${PROJECT}change`;
    const before = manager(service('keep') + service('svc', 'env = { MODE = "one" }'), project);
    const [keep1, svc1] = await before.m.up();
    await before.m.close();
    const after = manager(service('keep') + service('svc', 'env = { MODE = "two" }'), project);
    const [keep2, svc2] = await after.m.up();
    expect(keep2!.containerId).toBe(keep1!.containerId);
    expect(svc2!.containerId).not.toBe(svc1!.containerId);
    expect(at(after.events, 'svc', 'recreated')).toBeGreaterThan(-1);
    expect(at(after.events, 'keep', 'unchanged')).toBeGreaterThan(-1);
    const env = (await docker!.api.getContainer(svc2!.containerId).inspect()).Config.Env;
    expect(env).toContain('MODE=two');
    await after.m.down();
    await after.m.close();
  });

  it('checks a TCP port on a service in the host network', async () => {
    const port = 20_000 + (process.pid % 20_000);
    const toml = `
[services.listener]
image = "${TEST_IMAGE}"
command = ["sh", "-c", "while true; do nc -l -p ${port} </dev/null; done"]
network = "host"
[services.listener.healthcheck]
kind = "tcp"
port = ${port}
interval = "200ms"
`;
    const { m } = manager(toml, `${PROJECT}tcp`);
    const [s] = await m.up();
    expect(s).toMatchObject({ state: 'healthy', healthOutput: `tcp 127.0.0.1:${port}: connected` });
    await m.down();
    await m.close();
  });
});

describe.skipIf(!docker)('envmanager.v1.EnvManagerService', { concurrent: true, timeout: 120_000 }, () => {
  it('serves every method, and streams the events of a restart', async () => {
    const { m } = manager(service('db') + service('app', 'depends_on = ["db"]'), `${PROJECT}grpc`);
    const server = new EnvManagerServer({ addr: '127.0.0.1:0', maxMessageBytes: 4 << 20, manager: m, docker: docker!, logger });
    await server.start();
    const client = new pb.EnvManagerServiceClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
    const call = <Req, Res>(method: string, req: Req) =>
      new Promise<Res>((resolve, reject) =>
        (client as unknown as Record<string, (r: Req, cb: (e: Error | null, v: Res) => void) => void>)[method]!.call(client, req, (e, v) =>
          e ? reject(e) : resolve(v),
        ),
      );
    try {
      const started = await call<pb.StartServicesRequest, pb.StartServicesResponse>('startServices', { names: ['app'] });
      expect(started.services.map((s) => [s.name, s.state])).toEqual([
        ['db', pb.ServiceState.SERVICE_STATE_HEALTHY],
        ['app', pb.ServiceState.SERVICE_STATE_HEALTHY],
      ]);
      const list = await call<pb.ListServicesRequest, pb.ListServicesResponse>('listServices', {});
      expect(list.services.map((s) => s.name)).toEqual(['db', 'app']);
      const one = await call<pb.GetServiceStatusRequest, pb.ServiceStatus>('getServiceStatus', { name: 'app' });
      expect(one).toMatchObject({ name: 'app', dependsOn: ['db'], state: pb.ServiceState.SERVICE_STATE_HEALTHY });
      expect((await grpcError(call('getServiceStatus', { name: 'nope' }))).code).toBe(status.NOT_FOUND);
      expect((await grpcError(call('startServices', { names: ['nope'] }))).code).toBe(status.INVALID_ARGUMENT);

      const seen: pb.ServiceEvent[] = [];
      const stream = client.streamServiceEvents({ names: ['app'] });
      stream.on('data', (e: pb.ServiceEvent) => seen.push(e));
      stream.on('error', () => undefined);
      const restarted = await call<pb.RestartServiceRequest, pb.ServiceStatus>('restartService', { name: 'app' });
      expect(restarted.state).toBe(pb.ServiceState.SERVICE_STATE_HEALTHY);
      await waitFor(() => seen.some((e) => e.type === 'healthy'), { message: 'no healthy event streamed' });
      expect(seen.map((e) => e.type)).toEqual(expect.arrayContaining(['stopped', 'removed', 'restarting', 'created', 'started', 'healthy']));
      expect(seen.every((e) => e.service === 'app')).toBe(true);
      stream.cancel();

      const health = await call<pb.HealthRequest, pb.HealthResponse>('health', {});
      expect(health).toMatchObject({ dockerReachable: true, services: 2, healthy: 2 });
      const stopped = await call<pb.StopServicesRequest, pb.StopServicesResponse>('stopServices', { names: ['db'] });
      expect(stopped.services.map((s) => [s.name, s.state])).toEqual([
        ['app', pb.ServiceState.SERVICE_STATE_ABSENT],
        ['db', pb.ServiceState.SERVICE_STATE_ABSENT],
      ]);
    } finally {
      client.close();
      await server.close(1_000);
      await m.close();
    }
  });
});

describe.skipIf(!docker)('the env-manager process', { concurrent: true, timeout: 120_000 }, () => {
  function run(args: string[], env: Record<string, string> = {}) {
    const child = spawn(
      process.execPath,
      [join(PROJECT_ROOT, 'dist/src/bin/env-manager.js'), '--grpc-addr', '127.0.0.1:0', '--http-addr', '127.0.0.1:0', ...args],
      {
        env: { PATH: process.env.PATH, ORCHESTRATOR_LOG_LEVEL: 'info', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, exited, output: () => output };
  }

  it('brings the services up on boot, serves /health, /ready and /metrics, and on SIGTERM stops them and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orq-env-'));
    const project = `${PROJECT}proc`;
    writeFileSync(join(dir, 'services.toml'), `[settings]\nproject = "${project}"\nstopGrace = "1s"\n${service('solo')}`);
    writeFileSync(join(dir, 'orchestrator.toml'), '[envManager]\nstopServicesOnExit = true\n');
    const p = run(['--services', join(dir, 'services.toml'), '--config', join(dir, 'orchestrator.toml')]);
    await waitFor(() => /"event":"healthy"/.test(p.output()), { timeoutMs: 30_000, message: 'the service never got healthy' });
    const httpPort = Number(/"http":(\d+)/.exec(p.output())![1]);
    expect((await fetch(`http://127.0.0.1:${httpPort}/health`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${httpPort}/ready`)).status).toBe(200);
    expect(sample((await getText(`http://127.0.0.1:${httpPort}/metrics`)).body, 'orq_env_service_up', '{service="solo"}')).toBe(1);
    expect(await docker!.containersLabelled({ [LABEL_PROJECT]: project })).toHaveLength(1);

    // orchctl env drives it.
    const grpcAddr = /"grpc":"(127\.0\.0\.1:\d+)"/.exec(p.output())![1]!;
    const st = await orchctl(grpcAddr, 'env', 'status');
    expect(st.code).toBe(0);
    expect(st.out).toMatch(/solo\s+healthy/);
    expect((await orchctl(grpcAddr, 'env', 'logs', 'solo')).code).toBe(0);
    expect((await orchctl(grpcAddr, '--json', 'env', 'up', 'solo')).out).toContain('"state":"SERVICE_STATE_HEALTHY"');
    expect((await orchctl(grpcAddr, 'env', 'logs', 'nope')).code).toBe(3);

    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(await docker!.containersLabelled({ [LABEL_PROJECT]: project })).toHaveLength(0);
  });

  it('refuses a bad service file with the key and line, exit code 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orq-env-'));
    writeFileSync(join(dir, 'bad.toml'), '[services.a]\nimage = "x"\ndepends_on = ["b"]\n');
    const p = run(['--services', join(dir, 'bad.toml')]);
    expect(await p.exited).toBe(2);
    expect(p.output()).toContain('bad.toml:3: services.a.depends_on: depends on unknown service "b"');
  });
});

/** An env-manager process (gRPC and HTTP on free ports) in this process, over `toml`'s services. */
async function startProcess(toml: string, project: string, envManager: NonNullable<ConfigInput['envManager']> = {}): Promise<EnvManagerProcess> {
  const config = loadConfig({
    env: {},
    overrides: {
      logLevel: 'warn',
      envManager: { grpcAddr: '127.0.0.1:0', httpAddr: '127.0.0.1:0', startOnBoot: false, stopServicesOnExit: true, ...envManager },
    },
  });
  const file = parseServiceFile(`[settings]\nproject = "${project}"\nstopGrace = "1s"\n${toml}`, 'test.toml');
  const proc = new EnvManagerProcess({ config, file, docker: docker!, logger, maxBackoffMs: 1_000 });
  await proc.start();
  return proc;
}

describe.skipIf(!docker)("the env-manager's /metrics", { concurrent: true, timeout: 120_000 }, () => {
  it('shows each service up, its restarts, and its health checks with their latency and failures; passes promtool', async () => {
    // Fails the first two checks of every new container, so each start adds two failures.
    const check = `command = ["sh", "-c", "n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; [ $n -ge 3 ]"]`;
    const toml = service('flaky', 'restart = "always"', check).replace(SLEEPER, SLEEPER.replace('trap', 'mkdir -p /tmp; trap'));
    const proc = await startProcess(toml, `${PROJECT}metrics`);
    const url = `http://127.0.0.1:${proc.httpPort}`;
    const scrape = async () => (await getText(`${url}/metrics`)).body;
    const svc = '{service="flaky"}';
    try {
      const before = await scrape();
      expect(sample(before, 'orq_env_service_up', svc)).toBe(0);
      expect(sample(before, 'orq_env_service_restarts_total', svc)).toBe(0);
      expect(sample(before, 'orq_env_health_check_failures_total', svc)).toBe(0);
      expect(sample(before, 'orq_env_health_check_duration_seconds_count', svc)).toBe(0);
      expect(sample(before, 'process_resident_memory_bytes')).toBeGreaterThan(0);

      const [first] = await proc.manager.up();
      const up = await scrape();
      expect(sample(up, 'orq_env_service_up', svc)).toBe(1);
      expect(sample(up, 'orq_env_health_check_failures_total', svc)).toBe(2);
      expect(sample(up, 'orq_env_health_check_duration_seconds_count', svc)).toBeGreaterThanOrEqual(3);
      expect(sample(up, 'orq_env_health_check_duration_seconds_sum', svc)).toBeGreaterThan(0);

      await docker!.api.getContainer(first!.containerId).kill();
      const after = await waitFor(
        async () => {
          const s = await proc.manager.status('flaky');
          return s.state === 'healthy' && s.restarts === 1 ? scrape() : '';
        },
        { timeoutMs: 30_000, message: 'the watcher never restarted the killed service' },
      );
      expect(sample(after, 'orq_env_service_restarts_total', svc)).toBe(1);
      expect(sample(after, 'orq_env_service_up', svc)).toBe(1);
      expect(sample(after, 'orq_env_health_check_failures_total', svc)).toBeGreaterThanOrEqual(4);
      expect(sample(after, 'orq_env_health_check_duration_seconds_count', svc)).toBeGreaterThanOrEqual(6);

      expect((await getText(`${url}/health`)).status).toBe(200);
      expect((await getText(`${url}/ready`)).status).toBe(200);
      if (PROMTOOL) {
        const r = runPromtool(PROMTOOL, ['check', 'metrics'], after);
        expect(r.output).toBe('');
        expect(r.status).toBe(0);
      }
    } finally {
      await proc.close(1_000);
    }
  });
});

describe.skipIf(!docker)("the env-manager's gRPC credentials", { concurrent: true, timeout: 120_000 }, () => {
  const TOKEN = 'env-token-0123456789abcdef';

  it('with a token and TLS configured, refuses a call without the token and takes one with it, leaves the health service open; orchctl env passes both', async () => {
    const certs = makeTestCerts();
    const proc = await startProcess(service('idle'), `${PROJECT}auth`, {
      auth: { tokens: [{ token: TOKEN, role: 'read' }] },
      tls: { certFile: certs.serverCert, keyFile: certs.serverKey },
    });
    const addr = `127.0.0.1:${proc.grpcPort}`;
    const client = new pb.EnvManagerServiceClient(addr, credentials.createSsl(certs.read(certs.caCert)));
    const list = (md: Metadata) =>
      new Promise<pb.ListServicesResponse>((resolve, reject) =>
        client.listServices({}, md, { deadline: Date.now() + 5_000 }, (e, v) => (e ? reject(e) : resolve(v))),
      );
    const plain = new pb.EnvManagerServiceClient(addr, credentials.createInsecure());
    try {
      expect((await grpcError(list(new Metadata()))).code).toBe(status.UNAUTHENTICATED);
      const wrong = new Metadata();
      wrong.set('authorization', 'Bearer wrong-token-aaaaaaaaaaaa');
      expect((await grpcError(list(wrong))).code).toBe(status.UNAUTHENTICATED);
      const right = new Metadata();
      right.set('authorization', `Bearer ${TOKEN}`);
      expect((await list(right)).services.map((s) => [s.name, s.state])).toEqual([['idle', pb.ServiceState.SERVICE_STATE_ABSENT]]);
      const overTcp = new Promise<unknown>((resolve, reject) =>
        plain.listServices({}, right, { deadline: Date.now() + 2_000 }, (e, v) => (e ? reject(e) : resolve(v))),
      );
      expect((await grpcError(overTcp)).code).toBe(status.UNAVAILABLE);
      expect(await healthCheck(addr, credentials.createSsl(certs.read(certs.caCert)))).toBe('SERVING');

      expect((await orchctl(addr, '--ca', certs.caCert, 'env', 'status')).code).toBe(5);
      const ok = await orchctl(addr, '--ca', certs.caCert, '--token', TOKEN, 'env', 'status');
      expect(ok.code).toBe(0);
      expect(ok.out).toMatch(/idle\s+absent/);
      expect((await orchctl(addr, '--token', TOKEN, 'env', 'status')).code).toBe(4);

      // Refused calls count, by code, in the env-manager's own gRPC metrics.
      const { body } = await getText(`http://127.0.0.1:${proc.httpPort}/metrics`);
      const labels = '{grpc_service="envmanager.v1.EnvManagerService",grpc_method="ListServices",grpc_type="unary"';
      expect(sample(body, 'orq_grpc_server_handled_total', `${labels},grpc_code="UNAUTHENTICATED"}`)).toBeGreaterThanOrEqual(3);
      expect(sample(body, 'orq_grpc_server_handled_total', `${labels},grpc_code="OK"}`)).toBeGreaterThanOrEqual(2);
    } finally {
      client.close();
      plain.close();
      await proc.close(1_000);
    }
  });
});
