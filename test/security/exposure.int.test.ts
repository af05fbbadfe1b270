/**
 * The exposure rule in real processes (built JS in dist/): the orchestrator and the env-manager
 * started on 0.0.0.0 without credentials exit 2 with a message naming the setting, before they
 * listen; with allowUnauthenticated = true the orchestrator serves and warns. And the rule's
 * reading of TLS settings with real certificates (openssl), which the fast suite cannot make.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/paths.js';
import { makeTestCerts } from '../helpers/certs.js';
import { orchestratorSecurity } from '../helpers/exposure.js';
import { healthCheck } from '../helpers/grpc.js';
import { startRedis, type RedisServerHandle } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'orq-exposure-'));
let redis: RedisServerHandle;
interface Running {
  child: ChildProcess;
  exited: Promise<number | string>;
  output(): string;
}
const running: Running[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const p of running) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await Promise.all(running.map((p) => p.exited));
  await redis?.stop();
});

/** A process entry point with a clean environment of our choosing. */
function run(script: string, args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, [join(PROJECT_ROOT, script), ...args], {
    env: { PATH: process.env.PATH ?? '', REDIS_URL: redis.url, ORCHESTRATOR_HTTP_ADDR: '127.0.0.1:0', ORCHESTRATOR_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const proc = { child, exited, output: () => out };
  running.push(proc);
  return proc;
}

describe('a gRPC server on 0.0.0.0 without credentials', () => {
  it('stops the orchestrator at start-up with exit 2, naming grpc.addr', async () => {
    const p = run('dist/src/bin/orchestrator.js', [], { ORCHESTRATOR_GRPC_ADDR: '0.0.0.0:0' });
    expect(await p.exited).toBe(2);
    expect(p.output()).toContain(
      'orchestrator: config key grpc.addr: 0.0.0.0:0 is not a loopback address and grpc has no credentials; set grpc.auth.tokens or grpc.auth.tokensFile',
    );
    expect(p.output()).not.toContain('orchestrator serving');
  });

  it('stops the env-manager at start-up with exit 2, naming envManager.grpcAddr', async () => {
    const services = join(dir, 'services.toml');
    writeFileSync(services, `[settings]\nproject = "orqexposure${process.pid}"\n[services.idle]\nimage = "busybox"\ncommand = ["sleep", "3600"]\n`);
    const p = run('dist/src/bin/env-manager.js', ['--services', services, '--grpc-addr', '0.0.0.0:0', '--http-addr', '127.0.0.1:0'], {});
    expect(await p.exited).toBe(2);
    expect(p.output()).toContain('env-manager: config key envManager.grpcAddr: 0.0.0.0:0 is not a loopback address and envManager has no credentials');
  });

  it('serves with grpc.allowUnauthenticated = true, and warns at start', async () => {
    const config = join(dir, 'open.toml');
    writeFileSync(config, '[grpc]\nallowUnauthenticated = true\n');
    const p = run('dist/src/bin/orchestrator.js', ['--config', config], { ORCHESTRATOR_GRPC_ADDR: '0.0.0.0:0' });
    const port = await waitFor(
      () => {
        if (p.child.exitCode !== null) throw new Error(`orchestrator exited (${p.child.exitCode}):\n${p.output()}`);
        return /"grpc":"0\.0\.0\.0:(\d+)"/.exec(p.output())?.[1] ?? '';
      },
      { timeoutMs: 30_000, message: 'orchestrator never served' },
    );
    expect(await healthCheck(`127.0.0.1:${port}`)).toBe('SERVING');
    const warning = p
      .output()
      .split('\n')
      .find((l) => l.includes('allowUnauthenticated'));
    expect(JSON.parse(warning!)).toMatchObject({ level: 40, server: 'grpc', addr: '0.0.0.0:0' });
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });
});

describe('the exposure rule with TLS settings', () => {
  it('takes mutual TLS as credentials, but not server-only TLS', () => {
    const certs = makeTestCerts();
    const tls = { certFile: certs.serverCert, keyFile: certs.serverKey };
    expect(orchestratorSecurity({ addr: '0.0.0.0:50052', tls: { ...tls, clientCaFile: certs.caCert, requireClientCert: true } })).toEqual([]);
    expect(() => orchestratorSecurity({ addr: '0.0.0.0:50052', tls })).toThrow(/config key grpc\.addr/);
    expect(() => orchestratorSecurity({ addr: '0.0.0.0:50052', tls: { ...tls, clientCaFile: certs.caCert } })).toThrow(/config key grpc\.addr/);
  });
});
