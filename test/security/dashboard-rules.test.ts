/**
 * The dashboard's rules without a server: which http settings the config loader refuses (the
 * exposure rule), the generated token file (mode, reuse, refusal of a readable one), the login
 * throttle's window, which Host and Origin headers pass, and what redaction replaces.
 */
import { chmodSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOrCreateDashboardToken } from '../../dashboard/generated-token.js';
import { allowedHost } from '../../dashboard/host-check.js';
import { LoginThrottle } from '../../dashboard/login-throttle.js';
import { requestSite } from '../../dashboard/origin-check.js';
import { REDACTED, redactSecrets, secretKeyTest } from '../../dashboard/redaction.js';
import { ConfigError, loadConfig, type ConfigInput } from '../../src/config/config.js';

const load = (http: ConfigInput['http']) => loadConfig({ env: {}, overrides: { http } });

describe('http exposure rule', () => {
  it('refuses a non-loopback http.addr without users or tokens, naming the settings', () => {
    for (const addr of ['0.0.0.0:9097', '10.1.2.3:9097', '[::]:9097', 'orq.example.com:9097']) {
      expect(() => load({ addr }), addr).toThrow(/http\.dashboard\.users.*http\.allowUnauthenticated/);
    }
    expect(() => load({ addr: '0.0.0.0:9097', dashboard: { enabled: false } })).toThrow(/config key http\.allowUnauthenticated/);
  });

  it('opens it with credentials or an explicit allowUnauthenticated; loopback needs neither', () => {
    expect(load({ addr: '0.0.0.0:9097', dashboard: { tokens: [{ token: 'a-token-of-16-chars-or-more', role: 'admin' }] } }).http.addr).toBe('0.0.0.0:9097');
    expect(load({ addr: '0.0.0.0:9097', allowUnauthenticated: true }).http.allowUnauthenticated).toBe(true);
    expect(load({ addr: '0.0.0.0:9097', allowUnauthenticated: true, dashboard: { enabled: false } }).http.dashboard.enabled).toBe(false);
    // Users or tokens in the shared config: a dashboard.js on its own serves with them.
    expect(load({ addr: '0.0.0.0:9097', dashboard: { enabled: false, users: [{ name: 'ops', password: 'a long passphrase' }] } }).http.addr).toBe(
      '0.0.0.0:9097',
    );
    for (const addr of ['127.0.0.1:9097', '[::1]:9097', 'localhost:9097']) expect(load({ addr }).http.allowUnauthenticated).toBe(false);
  });

  it('validates tls, public names and secret key patterns', () => {
    expect(() => load({ tls: { certFile: '/x.pem' } })).toThrow(/http\.tls\.keyFile/);
    expect(() => load({ publicNames: ['https://orq.example.com'] })).toThrow(/http\.publicNames\.0/);
    expect(() => load({ dashboard: { secretPayloadKeys: ['('] } })).toThrow(/http\.dashboard\.secretPayloadKeys\.0/);
    const c = load({});
    expect(c.http.dashboard.generatedTokenFile).toBe('.orchestrator/dashboard-token');
    expect(c.http.dashboard.loginThrottle).toEqual({ maxFailures: 10, windowMs: 60_000 });
    expect(loadConfig({ env: { ORCHESTRATOR_DASHBOARD_TOKEN_FILE: '/srv/orq/token' } }).http.dashboard.generatedTokenFile).toBe('/srv/orq/token');
  });
});

describe('generated token file', () => {
  it('is made 0600 in a new 0700 folder, then reused', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'orq-token-')), 'state', 'dashboard-token');
    const first = loadOrCreateDashboardToken(file);
    expect(first.created).toBe(true);
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(file, '..')).mode & 0o777).toBe(0o700);
    expect(loadOrCreateDashboardToken(file)).toEqual({ ...first, created: false });
  });

  it('refuses a file others may read, and a damaged one, naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'orq-token-'));
    const file = join(dir, 'dashboard-token');
    loadOrCreateDashboardToken(file);
    chmodSync(file, 0o644);
    expect(() => loadOrCreateDashboardToken(file)).toThrow(ConfigError);
    expect(() => loadOrCreateDashboardToken(file)).toThrow(/dashboard-token: mode 644/);
    const short = join(dir, 'short');
    writeFileSync(short, 'abc\n', { mode: 0o600 });
    expect(() => loadOrCreateDashboardToken(short)).toThrow(/short: not a token/);
    // Somewhere it cannot be written (a read-only install folder, say): a config error naming the key.
    expect(() => loadOrCreateDashboardToken(join(short, 'token'))).toThrow(/http\.dashboard\.generatedTokenFile .*cannot read it \(ENOTDIR\)/);
  });
});

describe('login throttle', () => {
  it('refuses a client after maxFailures within the window, until the window ends; others are not affected', () => {
    let now = 1_000_000;
    const t = new LoginThrottle({ maxFailures: 3, windowMs: 60_000, now: () => now });
    for (let i = 0; i < 2; i++) t.fail('10.0.0.1');
    expect(t.retryAfterSeconds('10.0.0.1')).toBe(0);
    t.fail('10.0.0.1');
    expect(t.retryAfterSeconds('10.0.0.1')).toBe(60);
    expect(t.retryAfterSeconds('10.0.0.2')).toBe(0);
    now += 59_001;
    expect(t.retryAfterSeconds('10.0.0.1')).toBe(1);
    now += 1_000;
    expect(t.retryAfterSeconds('10.0.0.1')).toBe(0);
    t.fail('10.0.0.1');
    expect(t.retryAfterSeconds('10.0.0.1')).toBe(0); // a new window
  });

  it('tracks a bounded number of addresses', () => {
    const t = new LoginThrottle({ maxFailures: 1, windowMs: 60_000, maxClients: 2 });
    for (const c of ['a', 'b', 'c']) t.fail(c);
    expect(t.retryAfterSeconds('a')).toBe(0); // the oldest was dropped
    expect(t.retryAfterSeconds('c')).toBeGreaterThan(0);
  });
});

describe('Host and Origin checks', () => {
  it('answers loopback names, IP addresses and public names only', () => {
    const pub = ['orq.example.com'];
    for (const h of ['localhost', 'localhost:9097', '127.0.0.1:9097', '127.1.2.3', '[::1]:9097', '10.0.0.5:9097', 'ORQ.Example.com:443', 'orq.example.com.']) {
      expect(allowedHost(h, pub), h).toBe(true);
    }
    for (const h of [undefined, '', 'evil.example.com', 'localhost.evil.example.com', '127.0.0.1.nip.io', 'orq.example.com.evil.net', 'a b', 'x:y:z']) {
      expect(allowedHost(h, pub), String(h)).toBe(false);
    }
  });

  it('tells same-site from cross-site requests', () => {
    const site = (headers: Record<string, string>, scheme: 'http' | 'https' = 'http') =>
      requestSite({ host: '127.0.0.1:9097', ...headers }, scheme, ['orq.example.com']);
    expect(site({ origin: 'http://127.0.0.1:9097' })).toBe('same');
    expect(site({ origin: 'https://127.0.0.1:9097' })).toBe('cross');
    expect(site({ origin: 'https://127.0.0.1:9097' }, 'https')).toBe('same');
    expect(site({ origin: 'https://127.0.0.1', host: '127.0.0.1:443' }, 'https')).toBe('same');
    expect(site({ origin: 'http://127.0.0.1:9098' })).toBe('cross');
    expect(site({ origin: 'http://localhost:9097' })).toBe('cross');
    expect(site({ origin: 'null' })).toBe('cross');
    expect(site({ origin: 'https://orq.example.com', host: 'orq.example.com' })).toBe('same');
    expect(site({ origin: 'https://orq.example.com' })).toBe('cross'); // a public name, but not the Host asked
    expect(site({ 'sec-fetch-site': 'same-origin' })).toBe('same');
    expect(site({ 'sec-fetch-site': 'none' })).toBe('same');
    expect(site({ 'sec-fetch-site': 'same-site' })).toBe('cross');
    expect(site({ origin: 'http://evil.example.com', 'sec-fetch-site': 'same-origin' })).toBe('cross'); // Origin decides
    expect(site({})).toBe('unknown');
  });
});

describe('redaction', () => {
  const isSecret = secretKeyTest(['token', 'secret', 'passw', 'key', 'credential', 'auth', 'cookie']);
  it('replaces header and env values and secret keys at any depth, and nothing else', () => {
    const data = {
      executor: { kind: 'container', image: 'alpine', env: { A: '1', B: '2' }, command: ['sh'], mounts: [{ hostPath: '/x' }] },
      payload: { region: 'eu', GITHUB_TOKEN: 'x', nested: { apiKey: 'y', ok: 'z' }, list: [{ password: 'p' }] },
      timeoutMs: 5,
      workflowId: 'w',
    };
    expect(redactSecrets(data, isSecret)).toEqual({
      executor: { kind: 'container', image: 'alpine', env: { A: REDACTED, B: REDACTED }, command: ['sh'], mounts: [{ hostPath: '/x' }] },
      payload: { region: 'eu', GITHUB_TOKEN: REDACTED, nested: { apiKey: REDACTED, ok: 'z' }, list: [{ password: REDACTED }] },
      timeoutMs: 5,
      workflowId: 'w',
    });
    expect(redactSecrets({ executor: { kind: 'http', headers: { 'x-api': 'v' } } }, isSecret)).toEqual({
      executor: { kind: 'http', headers: { 'x-api': REDACTED } },
    });
    expect(data.payload.GITHUB_TOKEN).toBe('x'); // a copy; the original is untouched
  });
});
