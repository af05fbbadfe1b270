/**
 * The dashboard's defences against the real HTTP server (the orchestrator in-process, and the
 * dashboard on its own as a child process): the generated admin token (file mode, reuse, the
 * ?token= login and its cookie), the Host check (DNS rebinding), the Origin / Sec-Fetch-Site
 * check on changing requests (CSRF), the security headers, login throttling per client address,
 * redaction of secrets for the read_only role (Bull Board's API and the workflow pages), HTTPS,
 * and the refusal to start on a public address without credentials.
 *
 * Requests go through node:http rather than fetch: the checks are about Host, Origin and
 * Sec-Fetch-* headers, which fetch will not let a caller set, and about the client's source
 * address (127.0.0.2 for the throttled client, so the rest of the suite is not throttled).
 */
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDACTED } from '../../dashboard/redaction.js';
import { PROJECT_ROOT } from '../../src/paths.js';
import { makeTestCerts } from '../helpers/certs.js';
import { startBareSystem, startSystem, TEST_CONFIG_TOML, type BareSystem, type TestSystem } from '../helpers/system.js';
import { waitFor } from '../helpers/wait.js';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Source address of the connection. */
  localAddress?: string;
  /** CA to trust (https). */
  ca?: Buffer;
}

function send(url: string, o: RequestOptions = {}): Promise<Answer> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        method: o.method ?? 'GET',
        headers: o.headers,
        localAddress: o.localAddress,
        ca: o.ca,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

const basic = (name: string, password: string) => `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`;
const ADMIN = basic('admin', 'admin-password-1');
const VIEWER_TOKEN = 'viewer-token-0123456789abcdef';
const ADMIN_TOKEN = 'admin-token-0123456789abcdef';

/** The session cookie (name=value) a ?token= login sets. */
function sessionCookie(a: Answer): string {
  const set = a.headers['set-cookie']?.find((c) => c.startsWith('orq_dashboard='));
  expect(set, 'a session cookie').toBeDefined();
  return set!.split(';')[0]!;
}

describe('generated admin token (no users, no tokens configured)', () => {
  let sys: BareSystem;
  beforeAll(async () => {
    sys = await startBareSystem({ toml: TEST_CONFIG_TOML });
  });
  afterAll(async () => sys?.stop());

  it('is made at the first start, kept 0600 in a 0700 folder, printed once as a login URL, and reused', async () => {
    const file = sys.config.http.dashboard.generatedTokenFile;
    const first = await sys.startDashboard();
    const token = readFileSync(file, 'utf8').trim();
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(file)).mode & 0o777).toBe(0o700);
    await waitFor(() => first.output().includes('/admin/?token='), { message: 'no login URL printed' });
    expect(first.output()).toContain(`/admin/?token=${token}`);

    // Credentials on loopback too.
    expect((await send(`${first.httpUrl}/admin/queues/api/queues`)).status).toBe(401);
    expect((await send(`${first.httpUrl}/admin/queues/api/queues`, { headers: { authorization: 'Bearer not-the-token-0000000000000000' } })).status).toBe(401);
    expect((await send(`${first.httpUrl}/admin/?token=wrong-token-00000000000000000000000`)).status).toBe(401);

    // The login URL sets an HttpOnly SameSite=Strict cookie and drops the token from the URL.
    const login = await send(`${first.httpUrl}/admin/queues?status=failed&token=${token}`);
    expect(login.status).toBe(303);
    expect(login.headers.location).toBe('/admin/queues?status=failed');
    const setCookie = login.headers['set-cookie']!.join('\n');
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Path=\/admin/);
    expect(setCookie).not.toMatch(/Secure/); // plain HTTP: a Secure cookie would never come back
    expect(setCookie).not.toContain(token);
    const cookie = sessionCookie(login);
    const withCookie = await send(`${first.httpUrl}/admin/queues/api/queues`, { headers: { cookie } });
    expect(withCookie.status).toBe(200);
    expect(withCookie.body).toContain('"name":"cpu_short"');
    // The session ends after http.dashboard.sessionMaxAgeMs (12 h by default), whatever the browser keeps.
    expect(setCookie).toMatch(/Max-Age=43200/);
    const expires = Number(/^orq_dashboard=v1\.(\d+)\./.exec(cookie)?.[1]);
    expect(expires * 1000 - Date.now()).toBeGreaterThan(43_100_000);
    const pastMac = createHmac('sha256', token)
      .update(`orq-dashboard-session/v1/${expires - 43_201}`)
      .digest('base64url');
    expect((await send(`${first.httpUrl}/admin/queues/api/queues`, { headers: { cookie: `orq_dashboard=v1.${expires - 43_201}.${pastMac}` } })).status).toBe(
      401,
    );
    // Moving the expiry on breaks the MAC.
    const mac = cookie.split('.')[2];
    expect((await send(`${first.httpUrl}/admin/queues/api/queues`, { headers: { cookie: `orq_dashboard=v1.${expires + 3600}.${mac}` } })).status).toBe(401);
    // A forged cookie is refused and cleared.
    const forged = await send(`${first.httpUrl}/admin/queues/api/queues`, { headers: { cookie: 'orq_dashboard=forged' } });
    expect(forged.status).toBe(401);
    expect(forged.headers['set-cookie']?.join('\n')).toMatch(/orq_dashboard=;.*Max-Age=0/);
    // The bearer form works for scripts.
    expect((await send(`${first.httpUrl}/admin/queues/api/queues`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    first.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    // A later start reuses the token: the old cookie still works, and the token is not printed again.
    const second = await sys.startDashboard();
    expect(readFileSync(file, 'utf8').trim()).toBe(token);
    await waitFor(() => second.output().includes(file), { message: 'the token file path was not printed' });
    expect(second.output()).not.toContain(token);
    expect((await send(`${second.httpUrl}/admin/queues/api/queues`, { headers: { cookie } })).status).toBe(200);
    second.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('with http.allowUnauthenticated starts on a public address, warns, and still asks for the generated token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orq-open-'));
    const configFile = join(dir, 'orchestrator.toml');
    writeFileSync(configFile, `${TEST_CONFIG_TOML}\n[http]\nallowUnauthenticated = true\n`);
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'dist/src/bin/dashboard.js'), '--http-addr', '0.0.0.0:0'], {
      env: {
        PATH: process.env.PATH,
        REDIS_URL: sys.redis.url,
        ORCHESTRATOR_CONFIG: configFile,
        ORCHESTRATOR_LOG_LEVEL: 'info',
        ORCHESTRATOR_DASHBOARD_TOKEN_FILE: join(dir, 'dashboard-token'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise((resolve) => child.on('exit', (c) => resolve(c)));
    try {
      const port = await waitFor(() => /"http":"0\.0\.0\.0:(\d+)"/.exec(output)?.[1], { message: `the dashboard never served:\n${output}` });
      expect(output).toMatch(/"level":40.*http\.allowUnauthenticated = true/);
      const base = `http://127.0.0.1:${port}`;
      expect((await send(`${base}/admin/queues/api/queues`)).status).toBe(401);
      expect((await send(`${base}/metrics`)).status).toBe(200);
      const token = readFileSync(join(dir, 'dashboard-token'), 'utf8').trim();
      expect((await send(`${base}/admin/queues/api/queues`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });

  it('refuses to start on a public address without configured credentials, naming the setting', async () => {
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'dist/src/bin/dashboard.js'), '--http-addr', '0.0.0.0:0'], {
      env: { PATH: process.env.PATH, REDIS_URL: sys.redis.url, ORCHESTRATOR_CONFIG: sys.configFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(2);
    expect(stderr).toMatch(/http\.dashboard\.users/);
    expect(stderr).toMatch(/http\.allowUnauthenticated/);
  });
});

describe('dashboard with configured users and tokens', () => {
  let sys: TestSystem;
  const TOML = `${TEST_CONFIG_TOML}
[http]
publicNames = ["orq.example.com"]
[http.dashboard]
loginThrottle = { maxFailures = 3, windowMs = 60000 }
[[http.dashboard.users]]
name = "admin"
password = "admin-password-1"
role = "admin"
[[http.dashboard.tokens]]
token = "${VIEWER_TOKEN}"
[[http.dashboard.tokens]]
token = "${ADMIN_TOKEN}"
role = "admin"
`;
  beforeAll(async () => {
    sys = await startSystem({ toml: TOML });
  });
  afterAll(async () => sys?.stop());
  const url = (path: string) => `${sys.httpUrl}${path}`;
  const port = () => new URL(sys.httpUrl).port;

  it('answers only Host names that are loopback, an IP address or a public name (DNS rebinding)', async () => {
    const api = url('/admin/queues/api/queues');
    for (const host of ['evil.example.com', `evil.example.com:${port()}`, 'localhost.evil.example.com', 'orq.example.com.evil.example.com']) {
      const a = await send(api, { headers: { host, authorization: ADMIN } });
      expect(a.status, `Host: ${host}`).toBe(421);
    }
    for (const host of [`127.0.0.1:${port()}`, `localhost:${port()}`, 'orq.example.com', `ORQ.example.com:${port()}`, `[::1]:${port()}`]) {
      expect((await send(api, { headers: { host, authorization: ADMIN } })).status, `Host: ${host}`).toBe(200);
    }
    // The rebinding page gets nothing before credentials are even looked at: no 401 to probe.
    expect((await send(url('/admin/queues'), { headers: { host: 'evil.example.com' } })).status).toBe(421);
    // The probe routes are read-only and open: documented as exempt.
    expect((await send(url('/metrics'), { headers: { host: 'evil.example.com' } })).status).toBe(200);
  });

  it('refuses changing requests from another site (Origin / Sec-Fetch-Site), and on the cookie alone', async () => {
    const login = await send(url(`/admin/?token=${ADMIN_TOKEN}`));
    expect(login.status).toBe(303);
    const cookie = sessionCookie(login);
    // Retrying a job that does not exist: past the checks, Bull Board answers 404.
    const retry = url('/admin/queues/api/queues/cpu_short/no-such-job/retry');
    const own = `http://127.0.0.1:${port()}`;
    const cases: [string, Record<string, string>, number][] = [
      ['cross-site Origin with a cookie', { cookie, origin: 'http://evil.example.com' }, 403],
      ['cross-site Origin with basic auth', { authorization: ADMIN, origin: 'http://evil.example.com' }, 403],
      ['Origin null', { cookie, origin: 'null' }, 403],
      ['same host, other scheme', { cookie, origin: `https://127.0.0.1:${port()}` }, 403],
      ['Sec-Fetch-Site cross-site', { cookie, 'sec-fetch-site': 'cross-site' }, 403],
      ['Sec-Fetch-Site same-site', { authorization: ADMIN, 'sec-fetch-site': 'same-site' }, 403],
      ['neither header, cookie only', { cookie }, 403],
      ['same origin with the cookie', { cookie, origin: own }, 404],
      ['Sec-Fetch-Site same-origin with the cookie', { cookie, 'sec-fetch-site': 'same-origin' }, 404],
      ['neither header, bearer token', { authorization: `Bearer ${ADMIN_TOKEN}` }, 404],
      ['neither header, basic auth', { authorization: ADMIN }, 404],
      ['public name as Origin and Host', { cookie, origin: 'https://orq.example.com', host: 'orq.example.com' }, 404],
    ];
    for (const [what, headers, status] of cases) expect((await send(retry, { method: 'PUT', headers })).status, what).toBe(status);
    // Reading is not a change: no Origin needed.
    expect((await send(url('/admin/queues/api/queues'), { headers: { cookie } })).status).toBe(200);
  });

  it('sends the security headers on pages, API answers, static files and refusals', async () => {
    const answers = [
      await send(url('/admin/queues'), { headers: { authorization: ADMIN } }),
      await send(url('/admin/queues/api/queues'), { headers: { authorization: ADMIN } }),
      await send(url('/admin/workflows/static/workflow.js'), { headers: { authorization: ADMIN } }),
      await send(url('/admin/queues')),
      await send(url('/metrics')),
    ];
    for (const a of answers) {
      const csp = String(a.headers['content-security-policy']);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("default-src 'none'");
      expect(csp).not.toMatch(/script-src[^;]*unsafe/);
      expect(a.headers['x-frame-options']).toBe('DENY');
      expect(a.headers['x-content-type-options']).toBe('nosniff');
      expect(a.headers['referrer-policy']).toBe('no-referrer');
    }
    expect(answers[0]!.body).toContain('<div id="root">'); // Bull Board's page itself
  });

  it('throttles failed logins per client address, answering 429 with Retry-After even to correct credentials', async () => {
    const api = url('/admin/queues/api/queues');
    const from = '127.0.0.2';
    expect((await send(api, { headers: { authorization: ADMIN }, localAddress: from })).status).toBe(200);
    const wrong: Record<string, string>[] = [
      { authorization: basic('admin', 'wrong-password') },
      { authorization: 'Bearer wrong-token-000000000000' },
      { cookie: 'orq_dashboard=forged' },
    ];
    for (const headers of wrong) expect((await send(api, { headers, localAddress: from })).status).toBe(401);
    const right: Record<string, string>[] = [{ authorization: ADMIN }, { authorization: `Bearer ${ADMIN_TOKEN}` }, {}];
    for (const headers of right) {
      const a = await send(api, { headers, localAddress: from });
      expect(a.status).toBe(429);
      expect(Number(a.headers['retry-after'])).toBeGreaterThan(0);
      expect(Number(a.headers['retry-after'])).toBeLessThanOrEqual(60);
    }
    expect((await send(url(`/admin/?token=${ADMIN_TOKEN}`), { localAddress: from })).status).toBe(429);
    // Another address is not affected; and a request without credentials is no failure.
    for (let i = 0; i < 5; i++) expect((await send(api)).status).toBe(401);
    expect((await send(api, { headers: { authorization: ADMIN } })).status).toBe(200);
  });

  it('shows read_only callers task data with header, env and secret payload values redacted; admins see all', async () => {
    // Added through Bull Board (admin) to a class no pool serves, so it stays waiting as written.
    const data = {
      executor: { kind: 'http', url: 'https://runner.internal/tasks/', method: 'POST', headers: { authorization: 'Bearer runner-secret-1' } },
      payload: { region: 'eu', api_token: 'payload-secret-2', dbPassword: 'payload-secret-3' },
      timeoutMs: 1000,
    };
    const added = await send(url('/admin/queues/api/queues/gpu/add'), {
      method: 'POST',
      headers: { authorization: ADMIN, 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
      body: JSON.stringify({ name: 'http', data, options: { jobId: 'redaction-http' } }),
    });
    expect(added.status).toBe(200);
    const envData = { executor: { kind: 'command', argv: ['env'], env: { DB_URL: 'postgres://u:env-secret-4@db/x' }, cwd: '' }, payload: {}, timeoutMs: 1000 };
    expect(
      (
        await send(url('/admin/queues/api/queues/gpu/add'), {
          method: 'POST',
          headers: { authorization: ADMIN, 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
          body: JSON.stringify({ name: 'command', data: envData, options: { jobId: 'redaction-env' } }),
        })
      ).status,
    ).toBe(200);
    const secrets = ['runner-secret-1', 'payload-secret-2', 'payload-secret-3', 'env-secret-4'];
    const viewer = { authorization: `Bearer ${VIEWER_TOKEN}` };
    const list = await send(url('/admin/queues/api/queues?activeQueue=gpu&status=waiting'), { headers: viewer });
    const one = await send(url('/admin/queues/api/queues/gpu/redaction-http'), { headers: viewer });
    for (const a of [list, one]) {
      expect(a.status).toBe(200);
      for (const s of secrets.slice(0, 3)) expect(a.body).not.toContain(s);
    }
    expect(list.body).not.toContain('env-secret-4');
    const job = (JSON.parse(one.body) as { job: { data: typeof data } }).job;
    expect(job.data.executor.headers).toEqual({ authorization: REDACTED });
    expect(job.data.payload).toEqual({ region: 'eu', api_token: REDACTED, dbPassword: REDACTED });
    expect(job.data.executor.url).toBe(data.executor.url);
    const envJob = JSON.parse((await send(url('/admin/queues/api/queues/gpu/redaction-env'), { headers: viewer })).body) as { job: { data: typeof envData } };
    expect(envJob.job.data.executor.env).toEqual({ DB_URL: REDACTED });
    expect(envJob.job.data.executor.argv).toEqual(['env']);
    // Admins see everything.
    const adminList = await send(url('/admin/queues/api/queues?activeQueue=gpu&status=waiting'), { headers: { authorization: ADMIN } });
    for (const s of secrets) expect(adminList.body).toContain(s);

    // The workflow page's JSON: secret inputs redacted for read_only.
    await sys.client.createWorkflow({ name: 'redaction-wf', steps: [{ stepId: 'only', task: { taskClass: 'gpu', payload: { r: '${inputs.region}' } } }] });
    const { runId } = await sys.client.startWorkflowRun({ name: 'redaction-wf', inputs: { region: 'eu', service_token: 'input-secret-5' } });
    const run = await send(url(`/admin/workflows/api/runs/${runId}`), { headers: viewer });
    expect(run.status).toBe(200);
    expect(run.body).not.toContain('input-secret-5');
    expect((JSON.parse(run.body) as { inputs: Record<string, string> }).inputs).toEqual({ region: 'eu', service_token: REDACTED });
    expect((await send(url(`/admin/workflows/api/runs/${runId}`), { headers: { authorization: ADMIN } })).body).toContain('input-secret-5');
  });
});

describe('dashboard over HTTPS (http.tls)', () => {
  const certs = makeTestCerts();
  let sys: BareSystem;
  beforeAll(async () => {
    sys = await startBareSystem({
      toml: `${TEST_CONFIG_TOML}
[http.tls]
certFile = "${certs.serverCert}"
keyFile = "${certs.serverKey}"
[[http.dashboard.tokens]]
token = "${ADMIN_TOKEN}"
role = "admin"
`,
    });
  });
  afterAll(async () => sys?.stop());

  it('serves HTTPS on http.addr with a Secure session cookie, and no plain HTTP', async () => {
    const dash = await sys.startDashboard();
    const base = dash.httpUrl.replace(/^http:/, 'https:');
    const ca = certs.read(certs.caCert);
    expect((await send(`${base}/health`, { ca })).status).toBe(200);
    const login = await send(`${base}/admin/?token=${ADMIN_TOKEN}`, { ca });
    expect(login.status).toBe(303);
    expect(login.headers['set-cookie']!.join('\n')).toMatch(/; Secure/);
    expect((await send(`${base}/admin/queues/api/queues`, { ca, headers: { cookie: sessionCookie(login) } })).status).toBe(200);
    // An untrusting client is refused by TLS; a plain HTTP client gets no answer.
    await expect(send(`${base}/health`)).rejects.toThrow(/certificate/);
    await expect(send(`${dash.httpUrl}/health`)).rejects.toThrow();
    dash.kill('SIGTERM');
    expect(await dash.exited).toBe(0);
  });
});
