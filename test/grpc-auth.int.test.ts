/**
 * gRPC bearer tokens, TLS and mutual TLS, through real clients: calls without a token or with a
 * wrong one end UNAUTHENTICATED, a right one (from the config list or the tokens file) passes;
 * grpc.health.v1.Health stays open; a token never appears in the orchestrator's log; TLS and mTLS
 * with certificates made for the test by openssl.
 */
import { credentials, status } from '@grpc/grpc-js';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrchestratorClient, ServingStatus, type OrchestratorClientOptions } from '../src/client/orchestrator-client.js';
import { loadConfig, type ConfigInput } from '../src/config/config.js';
import { createLogger } from '../src/logging/logger.js';
import { Orchestrator } from '../src/orchestrator.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { makeTestCerts, type TestCerts } from './helpers/certs.js';
import { grpcError, healthCheck } from './helpers/grpc.js';
import { getText, sample } from './helpers/http.js';
import { startBareSystem, TEST_CONFIG_TOML, type BareSystem, type OrchestratorProcess } from './helpers/system.js';
import { orchctl as runOrchctl } from './helpers/orchctl.js';

const LISTED = 'listed-token-0123456789abcdef';
const FROM_FILE = 'file-token-fedcba9876543210';
const WRONG = 'wrong-token-aaaaaaaaaaaaaaaa';

let sys: BareSystem;
let certs: TestCerts;
const closers: (() => unknown)[] = [];

beforeAll(async () => {
  certs = makeTestCerts();
  const tokensFile = join(certs.dir, 'tokens');
  writeFileSync(tokensFile, `# operators\n\n  ${FROM_FILE}   submit \n`);
  sys = await startBareSystem({
    toml: `${TEST_CONFIG_TOML}\n[grpc.auth]\ntokensFile = "${tokensFile}"\n[[grpc.auth.tokens]]\ntoken = "${LISTED}"\nrole = "read"\n`,
  });
});
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await sys?.stop();
});

function client(addr: string, opts: OrchestratorClientOptions = {}): OrchestratorClient {
  const c = new OrchestratorClient(addr, { defaultDeadlineMs: 10_000, ...opts });
  closers.push(() => c.close());
  return c;
}

describe('bearer tokens', () => {
  let orch: OrchestratorProcess;
  beforeAll(async () => {
    orch = await sys.startOrchestrator();
  });

  it('refuses a call without a token or with a wrong one, and takes a listed or filed one', async () => {
    expect((await grpcError(client(orch.addr).health())).code).toBe(status.UNAUTHENTICATED);
    expect((await grpcError(client(orch.addr, { token: WRONG }).submitTask({ taskClass: 'cpu_short', payload: {} }))).code).toBe(status.UNAUTHENTICATED);
    const stream = client(orch.addr, { token: WRONG }).streamEvents();
    expect(
      (
        await grpcError(
          (async () => {
            for await (const _ of stream) break;
          })(),
        )
      ).code,
    ).toBe(status.UNAUTHENTICATED);
    expect((await client(orch.addr, { token: LISTED }).health()).version).not.toBe('');
    const { taskId } = await client(orch.addr, { token: FROM_FILE }).submitTask({ taskClass: 'cpu_short', payload: { a: '1' } });
    expect(taskId).not.toBe('');
  });

  it('orchctl takes the same credentials: exit 5 without a token, 0 with one from a flag or a file', async () => {
    const orchctl = (...args: string[]) => {
      const r = spawnSync(process.execPath, [join(PROJECT_ROOT, 'dist/src/cli/orchctl.js'), '--addr', orch.addr, ...args], { encoding: 'utf8' });
      return { code: r.status, out: r.stdout, err: r.stderr };
    };
    const none = orchctl('metrics');
    expect(none.code).toBe(5);
    expect(none.err).not.toContain(LISTED);
    expect(orchctl('--token', WRONG, 'metrics').code).toBe(5);
    expect(orchctl('--token', LISTED, 'metrics').code).toBe(0);
    const file = join(certs.dir, 'cli-token');
    writeFileSync(file, `${FROM_FILE}\n`);
    expect(orchctl('--token-file', file, '--json', 'metrics').code).toBe(0);
  });

  it('leaves grpc.health.v1.Health open for probes', async () => {
    expect(await healthCheck(orch.addr)).toBe('SERVING');
  });

  it('counts refused calls in the metrics and never logs a token', async () => {
    const { body } = await getText(`${orch.httpUrl}/metrics`);
    expect(
      sample(
        body,
        'orq_grpc_server_handled_total',
        '{grpc_service="orchestrator.v1.OrchestratorService",grpc_method="Health",grpc_type="unary",grpc_code="UNAUTHENTICATED"}',
      ),
    ).toBe(1);
    expect(orch.output()).toContain('call refused');
    for (const token of [LISTED, FROM_FILE, WRONG]) expect(orch.output()).not.toContain(token);
  });
});

describe('TLS', () => {
  async function startTls(tls: NonNullable<NonNullable<ConfigInput['grpc']>['tls']>): Promise<string> {
    const config = loadConfig({
      env: {},
      overrides: {
        logLevel: 'warn',
        redis: { url: sys.redis.url, prefix: `tls${closers.length}` },
        grpc: { addr: '127.0.0.1:0', tls },
        http: { addr: '127.0.0.1:0' },
      },
    });
    const orchestrator = new Orchestrator({ config, redisUrl: sys.redis.url, logger: createLogger('warn') });
    await orchestrator.start();
    closers.push(() => orchestrator.close(500));
    return `127.0.0.1:${orchestrator.grpcPort}`;
  }

  it('serves TLS to a client that trusts its CA, and nothing to a plain-TCP client', async () => {
    const addr = await startTls({ certFile: certs.serverCert, keyFile: certs.serverKey });
    const health = await client(addr, { tls: { ca: certs.read(certs.caCert) } }).health();
    expect(health.components.find((c) => c.name === 'redis')?.status).toBe(ServingStatus.SERVING_STATUS_SERVING);
    expect((await grpcError(client(addr, { defaultDeadlineMs: 2_000 }).health())).code).toBe(status.UNAVAILABLE);
    expect(await healthCheck(addr, credentials.createSsl(certs.read(certs.caCert)))).toBe('SERVING');
  });

  it('with mutual TLS, takes only clients with a certificate from the client CA', async () => {
    const addr = await startTls({ certFile: certs.serverCert, keyFile: certs.serverKey, clientCaFile: certs.caCert, requireClientCert: true });
    const ca = certs.read(certs.caCert);
    const good = client(addr, { tls: { ca, certChain: certs.read(certs.clientCert), privateKey: certs.read(certs.clientKey) } });
    expect((await good.health()).version).not.toBe('');
    expect((await grpcError(client(addr, { tls: { ca }, defaultDeadlineMs: 2_000 }).health())).code).toBe(status.UNAVAILABLE);
    const rogue = client(addr, {
      tls: { ca, certChain: certs.read(certs.rogueClientCert), privateKey: certs.read(certs.rogueClientKey) },
      defaultDeadlineMs: 2_000,
    });
    expect((await grpcError(rogue.health())).code).toBe(status.UNAVAILABLE);

    // orchctl with the same certificates.
    const orchctl = async (...args: string[]) => (await runOrchctl(['--addr', addr, '--deadline-ms', '3000', ...args])).code;
    expect(await orchctl('--ca', certs.caCert, '--cert', certs.clientCert, '--key', certs.clientKey, 'metrics')).toBe(0);
    expect(await orchctl('--ca', certs.caCert, 'metrics')).toBe(4);
    expect(await orchctl('--ca', certs.caCert, '--cert', certs.clientCert, 'metrics')).toBe(2);
  });

  it('refuses a half TLS configuration at start-up, naming the key', () => {
    expect(() => loadConfig({ env: {}, overrides: { grpc: { tls: { certFile: certs.serverCert } } } })).toThrow(/grpc\.tls\.keyFile/);
    expect(() =>
      loadConfig({ env: {}, overrides: { grpc: { tls: { certFile: certs.serverCert, keyFile: certs.serverKey, requireClientCert: true } } } }),
    ).toThrow(/grpc\.tls\.requireClientCert/);
  });
});
