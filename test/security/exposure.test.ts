/**
 * The exposure rule of the gRPC servers, as start-up applies it (grpcSecurity, the first thing
 * the orchestrator and the env-manager do): beyond loopback, no credentials means no start,
 * unless allowUnauthenticated says so, and then a warning at every start.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { envManagerSecurity, orchestratorSecurity } from '../helpers/exposure.js';

const TOKEN = 'exposure-token-0123456789';

describe('the exposure rule', () => {
  it('refuses gRPC beyond loopback without credentials, naming the setting and the ways out', () => {
    for (const addr of ['0.0.0.0:50052', '[::]:50052', '192.168.1.10:50052', '10.0.0.5:50052', 'orchestrator.internal:50052']) {
      let err: unknown;
      try {
        orchestratorSecurity({ addr });
      } catch (e) {
        err = e;
      }
      expect(err, addr).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toBe(
        `config key grpc.addr: ${addr} is not a loopback address and grpc has no credentials; set grpc.auth.tokens or grpc.auth.tokensFile, ` +
          'or mutual TLS (grpc.tls.requireClientCert), or grpc.allowUnauthenticated = true for a trusted network',
      );
    }
    expect(() => envManagerSecurity({ grpcAddr: '0.0.0.0:50100' })).toThrow(
      /^config key envManager\.grpcAddr: 0\.0\.0\.0:50100 is not a loopback address and envManager has no credentials; .*envManager\.allowUnauthenticated = true/,
    );
  });

  it('leaves loopback open without tokens, as before, and silent', () => {
    for (const addr of ['127.0.0.1:0', '127.0.0.2:50052', 'localhost:50052', '[::1]:50052']) expect(orchestratorSecurity({ addr }), addr).toEqual([]);
    expect(envManagerSecurity({ grpcAddr: '127.0.0.1:0' })).toEqual([]);
  });

  it('takes tokens as credentials, but not an empty tokens file', () => {
    expect(orchestratorSecurity({ addr: '0.0.0.0:50052', auth: { tokens: [{ token: TOKEN, role: 'read' }] } })).toEqual([]);
    expect(envManagerSecurity({ grpcAddr: '0.0.0.0:50100', auth: { tokens: [{ token: TOKEN, role: 'control' }] } })).toEqual([]);
    // Mutual TLS, with certificates made by openssl: security/exposure.int.test.ts.
    const file = join(mkdtempSync(join(tmpdir(), 'orq-exposure-')), 'tokens');
    writeFileSync(file, '# nobody yet\n');
    expect(() => orchestratorSecurity({ addr: '0.0.0.0:50052', auth: { tokensFile: file } })).toThrow(/config key grpc\.addr/);
    writeFileSync(file, `${TOKEN} submit\n`);
    expect(orchestratorSecurity({ addr: '0.0.0.0:50052', auth: { tokensFile: file } })).toEqual([]);
  });

  it('opens with allowUnauthenticated = true and warns, naming the server and address, at every start', () => {
    for (let start = 0; start < 2; start++) {
      const lines = orchestratorSecurity({ addr: '0.0.0.0:50052', allowUnauthenticated: true });
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 40, server: 'grpc', addr: '0.0.0.0:50052' });
      expect(lines[0]!.msg).toMatch(/grpc\.allowUnauthenticated: gRPC on 0\.0\.0\.0:50052 takes calls without credentials/);
    }
    const env = envManagerSecurity({ grpcAddr: '[::]:50100', allowUnauthenticated: true });
    expect(env).toMatchObject([{ level: 40, server: 'envManager', addr: '[::]:50100' }]);
    // Nothing to warn about where the flag changes nothing.
    expect(orchestratorSecurity({ addr: '127.0.0.1:0', allowUnauthenticated: true })).toEqual([]);
    expect(orchestratorSecurity({ addr: '0.0.0.0:50052', allowUnauthenticated: true, auth: { tokens: [{ token: TOKEN, role: 'read' }] } })).toEqual([]);
  });

  it('names the tokens file and line when a line has no role', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'orq-exposure-')), 'tokens');
    writeFileSync(file, `${TOKEN} admin\n${TOKEN}x\n`);
    expect(() => orchestratorSecurity({ auth: { tokensFile: file } })).toThrow(
      new ConfigError(
        `config key grpc.auth.tokensFile: tokens file ${file} line 2: no role: expected "<token> <role>", the role one of read, submit, operate, admin`,
      ),
    );
    writeFileSync(file, `${TOKEN} admin classes=no_such_class\n`);
    expect(() => orchestratorSecurity({ auth: { tokensFile: file } })).toThrow(/config key grpc\.auth\.tokensFile: unknown task class "no_such_class"/);
  });
});

describe('the exposure rule for probe listeners', () => {
  it('refuses a pool’s or the env-manager’s /metrics beyond loopback unless opened on purpose', () => {
    expect(() => loadConfig({ env: {}, overrides: { pool: { metricsAddr: '0.0.0.0:9100' } } })).toThrow(
      /pool\.metricsAddr 0\.0\.0\.0:9100 .*pool\.metricsAllowUnauthenticated/,
    );
    expect(() => loadConfig({ env: { ORCHESTRATOR_POOL_METRICS_ADDR: '10.0.0.5:9100' } })).toThrow(ConfigError);
    expect(loadConfig({ env: {}, overrides: { pool: { metricsAddr: '0.0.0.0:9100', metricsAllowUnauthenticated: true } } }).pool.metricsAddr).toBe(
      '0.0.0.0:9100',
    );
    expect(loadConfig({ env: {}, overrides: { pool: { metricsAddr: '127.0.0.1:9100' } } }).pool.metricsAddr).toBe('127.0.0.1:9100');
    expect(() => loadConfig({ env: {}, overrides: { envManager: { httpAddr: '[::]:50101' } } })).toThrow(/envManager\.httpAllowUnauthenticated/);
    expect(loadConfig({ env: {}, overrides: { envManager: { httpAddr: '[::]:50101', httpAllowUnauthenticated: true } } }).envManager.httpAddr).toBe(
      '[::]:50101',
    );
  });
});
