/**
 * A Redis reached over TLS with its own CA: the orchestrator and a pool, as separate processes,
 * work over rediss:// with redis.tls.caFile (and a client certificate and a password file), and
 * stop at start with the setting to fix when the CA, the client certificate or the password is
 * missing, rather than retrying in silence.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OrchestratorClient, TaskState } from '../../src/client/orchestrator-client.js';
import { PROJECT_ROOT } from '../../src/paths.js';
import { checkRedisAccess } from '../../src/redis/connection-check.js';
import { useRedisConnectionSettings } from '../../src/redis/connection.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { freePort, startRedis, type RedisServerHandle } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

const PASSWORD = 'tls-test-password-7f3c';

let certs: TestCerts;
let redis: RedisServerHandle;
let tlsPort: number;
let dir: string;

beforeAll(async () => {
  certs = makeTestCerts();
  dir = mkdtempSync(join(tmpdir(), 'orq-sec-tls-'));
  tlsPort = await freePort();
  // Clients must present a certificate of the same CA (tls-auth-clients yes): the pool and the
  // orchestrator getting through proves certFile/keyFile are applied, not only caFile.
  redis = await startRedis({
    password: PASSWORD,
    extraArgs: [
      '--tls-port',
      String(tlsPort),
      '--tls-cert-file',
      certs.serverCert,
      '--tls-key-file',
      certs.serverKey,
      '--tls-ca-cert-file',
      certs.caCert,
      '--tls-auth-clients',
      'yes',
    ],
  });
  writeFileSync(join(dir, 'password'), `${PASSWORD}\n`, { mode: 0o600 });
});

afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
  if (certs) rmSync(certs.dir, { recursive: true, force: true });
});

function config(name: string, tls: Record<string, string>, passwordFile = join(dir, 'password')): string {
  const file = join(dir, `${name}.toml`);
  const tlsLines = Object.entries(tls).map(([k, v]) => `${k} = "${v}"`);
  writeFileSync(
    file,
    [`[redis]`, `url = "rediss://127.0.0.1:${tlsPort}"`, `prefix = "${name}"`, `passwordFile = "${passwordFile}"`, `[redis.tls]`, ...tlsLines, ''].join('\n'),
  );
  return file;
}

const children: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  // A process that failed its test may still be waiting for Redis: it must not outlive the suite.
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function run(script: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [join(PROJECT_ROOT, script), ...args], {
    env: { PATH: process.env.PATH, ORCHESTRATOR_HTTP_ADDR: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

const full = () => ({ caFile: certs.caCert, certFile: certs.clientCert, keyFile: certs.clientKey });

describe('Redis over TLS with a configured CA', () => {
  it('the plain port asks for the password too', async () => {
    const r = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false });
    r.on('error', () => undefined);
    try {
      await r.connect();
      await expect(r.ping()).rejects.toThrow(/NOAUTH/);
    } finally {
      r.disconnect();
    }
  });

  it('the orchestrator and a pool work over rediss:// with redis.tls.caFile, a client certificate and redis.passwordFile', async () => {
    const grpc = `127.0.0.1:${await freePort()}`;
    const cfg = config('tlsok', full());
    const orch = run('dist/src/bin/orchestrator.js', ['--config', cfg], { ORCHESTRATOR_GRPC_ADDR: grpc });
    const pool = run('dist/workers/main.js', ['--config', cfg, '--classes', 'cpu_short:1']);
    const client = new OrchestratorClient(grpc);
    try {
      await waitFor(() => orch.output().includes('orchestrator serving') && pool.output().includes('pool started'), {
        timeoutMs: 60_000,
        message: `both up; orchestrator: ${orch.output().slice(-300)} pool: ${pool.output().slice(-300)}`,
      });
      const { taskId } = await client.submitTask({ taskClass: 'cpu_short', payload: { text: 'over tls' } });
      const result = await client.waitForResult(taskId, { timeoutMs: 30_000 });
      expect(result.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
      expect(result.resultJson).toContain('over tls');
      // Every connection of theirs came in on the TLS port, none on the plain one.
      const admin = new Redis(`rediss://127.0.0.1:${tlsPort}`, {
        password: PASSWORD,
        tls: { ca: certs.read(certs.caCert), cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) },
      });
      try {
        const clients = (await admin.client('LIST')) as string;
        const ours = clients.split('\n').filter((l) => /name=orq-/.test(l));
        expect(ours.length).toBeGreaterThan(0);
        for (const l of ours) expect(/laddr=127\.0\.0\.1:(\d+)/.exec(l)?.[1], l).toBe(String(tlsPort));
      } finally {
        admin.disconnect();
      }
    } finally {
      client.close();
      orch.child.kill('SIGTERM');
      pool.child.kill('SIGTERM');
      expect(await orch.exited).toBe(0);
      expect(await pool.exited).toBe(0);
    }
  });

  it.each([
    ['the orchestrator', 'dist/src/bin/orchestrator.js'],
    ['a pool', 'dist/workers/main.js'],
  ])('%s without the CA stops at start naming redis.tls.caFile', async (_name, script) => {
    const p = run(script, ['--config', config('noca', { certFile: certs.clientCert, keyFile: certs.clientKey })], {
      ORCHESTRATOR_GRPC_ADDR: `127.0.0.1:${await freePort()}`,
    });
    expect(await p.exited).toBe(2);
    expect(p.output()).toMatch(/redis\.url rediss:\/\/127\.0\.0\.1:\d+: TLS failed \(.*certificate.*\).*redis\.tls\.caFile/);
  });

  it('a pool without the client certificate the server asks for stops at start with the TLS failure', async () => {
    const p = run('dist/workers/main.js', ['--config', config('nocert', { caFile: certs.caCert })]);
    expect(await p.exited).toBe(2);
    expect(p.output()).toMatch(/TLS failed.*redis\.tls\.certFile and redis\.tls\.keyFile/);
  });

  it('a wrong password stops start-up naming redis.passwordFile, without printing the password', async () => {
    const wrong = join(dir, 'wrong');
    writeFileSync(wrong, 'not-the-password\n', { mode: 0o600 });
    const p = run('dist/workers/main.js', ['--config', config('wrongpw', full(), wrong)]);
    expect(await p.exited).toBe(2);
    expect(p.output()).toMatch(/refused our credentials \((WRONGPASS|NOAUTH).*redis\.passwordFile/);
    expect(p.output()).not.toContain('not-the-password');
  });

  it('redis.tls.servername is the name the certificate is checked against', async () => {
    const url = `rediss://127.0.0.1:${tlsPort}`;
    const tls = { ca: certs.read(certs.caCert), cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) };
    try {
      useRedisConnectionSettings({ password: PASSWORD, tls: { ...tls, servername: 'localhost' } });
      expect(await checkRedisAccess(url)).toEqual({ ok: true });
      useRedisConnectionSettings({ password: PASSWORD, tls: { ...tls, servername: 'redis.wrong.example' } });
      const refused = await checkRedisAccess(url);
      expect(refused).toMatchObject({ ok: false, reason: 'tls' });
      expect(refused.ok === false && refused.message).toMatch(/redis\.wrong\.example/);
    } finally {
      useRedisConnectionSettings({});
    }
  });

  it('a CA file that cannot be read stops start-up naming redis.tls.caFile', async () => {
    const p = run('dist/workers/main.js', ['--config', config('missingca', { ...full(), caFile: join(dir, 'no-such-ca.pem') })]);
    expect(await p.exited).toBe(2);
    expect(p.output()).toMatch(/redis\.tls\.caFile: cannot read .*no-such-ca\.pem: ENOENT/);
  });
});
