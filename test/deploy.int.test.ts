/**
 * The deployment files: docker-compose.yml is valid for docker-compose (Debian's, as CI installs
 * it), the Dockerfile copies only what exists, and the systemd units restart on failure, run
 * as an unprivileged user with a hardening section, and start entry points the build produces.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parsePoolClasses } from '../src/config/config.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { promtool, runPromtool } from './helpers/http.js';

const PROMTOOL = promtool();

const file = (p: string) => readFileSync(join(PROJECT_ROOT, p), 'utf8');

function dockerCompose(): boolean {
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return true;
  if (process.env.CI === 'true') throw new Error('docker-compose is missing; CI must install it (.ci/run)');
  process.stderr.write('SKIPPED docker-compose config check: docker-compose is not installed (apt-get install docker-compose)\n');
  return false;
}

/** One service's block of `docker-compose config` output (services are indented two spaces). */
function serviceBlock(config: string, name: string): string {
  const services = config.slice(config.indexOf('\nservices:\n'));
  const start = services.indexOf(`\n  ${name}:\n`);
  expect(start, `service ${name}`).toBeGreaterThanOrEqual(0);
  const rest = services.slice(start + 1);
  const end = rest.slice(1).search(/\n(?: {2}\S|\S)/);
  return end < 0 ? rest : rest.slice(0, end + 1);
}

/** key -> values of a systemd unit (a key may repeat). */
function unit(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

describe('deployment files', () => {
  it.skipIf(!dockerCompose())('docker-compose.yml is valid and has redis, the orchestrator and a scalable pool, each with a health check', () => {
    const r = spawnSync('docker-compose', ['-f', join(PROJECT_ROOT, 'docker-compose.yml'), 'config'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    for (const s of ['redis:', 'orchestrator:', 'pool-cpu:']) expect(r.stdout).toContain(s);
    expect(r.stdout).toContain('noeviction');
    expect(r.stdout).toContain('--maxmemory 1gb');
    expect(r.stdout).toContain('--appendonly');
    expect(r.stdout.match(/healthcheck:/g)?.length).toBe(3);
    // A service that scales must not pin a container name or a host port.
    const pool = r.stdout.slice(r.stdout.indexOf('  pool-cpu:'), r.stdout.indexOf('\n  redis:'));
    expect(pool).not.toMatch(/container_name|ports:/);
  });

  it.skipIf(!dockerCompose())('docker-compose.yml starts no service without the credentials it declares as secret files', () => {
    const r = spawnSync('docker-compose', ['-f', join(PROJECT_ROOT, 'docker-compose.yml'), 'config'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    // Every secret is a file made by deploy/compose/make-secrets.sh, in a git-ignored folder.
    for (const name of ['redis_password', 'grpc_tokens', 'orchestrator.toml']) {
      expect(r.stdout).toContain(`file: ${join(PROJECT_ROOT, 'deploy/compose/secrets', name)}`);
    }
    // Redis asks for the password, given on stdin (`-`), never as --requirepass on its command line.
    const redis = serviceBlock(r.stdout, 'redis');
    expect(redis).toMatch(/redis-server[\s\S]*? - <<EOF\s+requirepass "\$\$\(cat \/run\/secrets\/redis_password\)"/);
    expect(redis).not.toMatch(/--requirepass|protected-mode no|-a /);
    expect(redis).toContain('source: redis_password');
    expect(redis).toContain('REDISCLI_AUTH=');
    // Its clients read the password from the secret; none carries it in REDIS_URL.
    for (const name of ['orchestrator', 'pool-cpu']) {
      const block = serviceBlock(r.stdout, name);
      expect(block).toContain('REDIS_URL: redis://redis:6379');
      expect(block).toContain('ORCHESTRATOR_REDIS_PASSWORD_FILE: /run/secrets/redis_password');
      expect(block).toContain('source: redis_password');
    }
    const orchestrator = serviceBlock(r.stdout, 'orchestrator');
    // It listens beyond loopback (its published ports), which its credentials allow.
    expect(orchestrator).toContain('ORCHESTRATOR_GRPC_ADDR: 0.0.0.0:50052');
    expect(orchestrator).toContain('ORCHESTRATOR_GRPC_TOKENS_FILE: /run/secrets/grpc_tokens');
    expect(orchestrator).toContain('ORCHESTRATOR_CONFIG: /run/secrets/orchestrator.toml');
    expect(orchestrator).toContain('source: grpc_tokens');
    expect(orchestrator).toContain('source: orchestrator.toml');
    // Nothing opens a server by switching its checks off, except the pools' /metrics on the
    // project's own network, for Prometheus: they publish no port.
    const pool = serviceBlock(r.stdout, 'pool-cpu');
    expect(pool).toContain('ORCHESTRATOR_POOL_METRICS_ADDR: 0.0.0.0:9464');
    expect(pool).toContain('ORCHESTRATOR_POOL_METRICS_ALLOW_UNAUTHENTICATED: "true"');
    expect(pool).not.toMatch(/\n {4}ports:/);
    expect(r.stdout.replace('ORCHESTRATOR_POOL_METRICS_ALLOW_UNAUTHENTICATED', '')).not.toMatch(/allowUnauthenticated|ALLOW_UNAUTHENTICATED/i);
  });

  it('make-secrets.sh makes the credentials once, in a 0700 folder, and the orchestrator config they form is valid', () => {
    const dir = mkdtempSync(join(tmpdir(), 'orq-compose-'));
    try {
      cpSync(join(PROJECT_ROOT, 'deploy/compose/make-secrets.sh'), join(dir, 'make-secrets.sh'));
      const make = () => spawnSync('sh', [join(dir, 'make-secrets.sh')], { encoding: 'utf8' });
      expect(make().status).toBe(0);
      const secrets = join(dir, 'secrets');
      const read = (name: string) => readFileSync(join(secrets, name), 'utf8');
      const first = ['redis_password', 'grpc_tokens', 'orchestrator.toml'].map(read);
      expect(statSync(secrets).mode & 0o777).toBe(0o700);
      expect(read('redis_password')).toMatch(/^[0-9a-f]{64}\n$/);
      expect(read('grpc_tokens')).toMatch(/^[0-9a-f]{64} admin\n$/);
      // A second run keeps every credential in use.
      expect(make().stdout).not.toContain('created');
      expect(['redis_password', 'grpc_tokens', 'orchestrator.toml'].map(read)).toEqual(first);
      // The orchestrator container's settings: all interfaces, with the dashboard's token from the config secret.
      const config = loadConfig({
        file: join(secrets, 'orchestrator.toml'),
        env: {
          REDIS_URL: 'redis://redis:6379',
          ORCHESTRATOR_REDIS_PASSWORD_FILE: join(secrets, 'redis_password'),
          ORCHESTRATOR_GRPC_TOKENS_FILE: join(secrets, 'grpc_tokens'),
          ORCHESTRATOR_GRPC_ADDR: '0.0.0.0:50052',
          ORCHESTRATOR_HTTP_ADDR: '0.0.0.0:9097',
        },
      });
      expect(config.http.dashboard.tokens).toHaveLength(1);
      expect(config.http.dashboard.tokens[0]!.role).toBe('admin');
      expect(config.redis.passwordFile).toBe(join(secrets, 'redis_password'));
      // A pool's settings (the image's, plus compose's Redis ones) need no gRPC or dashboard
      // credentials: the image binds nothing beyond loopback by itself.
      const instructions = file('Dockerfile')
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join('\n');
      expect(instructions).not.toMatch(/ORCHESTRATOR_(GRPC|HTTP)_ADDR/);
      const pool = loadConfig({ env: { REDIS_URL: 'redis://redis:6379', ORCHESTRATOR_REDIS_PASSWORD_FILE: join(secrets, 'redis_password') } });
      expect(pool.grpc.addr).toBe('127.0.0.1:50052');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the Dockerfile is multi-stage, runs as a non-root user, and copies only what exists', () => {
    const text = file('Dockerfile');
    expect(text.match(/^FROM /gm)?.length).toBe(2);
    expect(text).toMatch(/^USER orq$/m);
    expect(text).toMatch(/^HEALTHCHECK /m);
    for (const [, src] of text.matchAll(/^COPY (?!--from)(\S+)/gm)) {
      for (const p of src!.split(' ')) expect(existsSync(join(PROJECT_ROOT, p)), p).toBe(true);
    }
  });

  it.each(['orchestrator.service', 'orchestrator-pool@.service'])(
    '%s restarts on failure, runs unprivileged and hardened, and starts a built entry point',
    (name) => {
      const u = unit(file(`deploy/systemd/${name}`));
      expect(u.get('Restart')).toEqual(['on-failure']);
      expect(u.get('User')).toEqual(['orchestrator']);
      for (const k of ['NoNewPrivileges', 'ProtectSystem', 'ProtectHome', 'PrivateTmp']) expect(u.has(k), k).toBe(true);
      expect(u.get('CapabilityBoundingSet')).toEqual(['']);
      const entry = /\/usr\/bin\/node (\S+)/.exec(u.get('ExecStart')![0]!)![1]!;
      expect(existsSync(join(PROJECT_ROOT, entry)), entry).toBe(true);
    },
  );
  it('a pool unit serves a list of classes: the escaped instance verifies with systemd-analyze and unescapes to the list', () => {
    const text = file('deploy/systemd/orchestrator-pool@.service');
    // %I, the unescaped instance: a unit name cannot hold a comma, systemd-escape makes it \x2c.
    expect(unit(text).get('ExecStart')).toEqual(['/usr/bin/node dist/workers/main.js --classes %I']);
    const escaped = spawnSync('systemd-escape', ['--template=orchestrator-pool@.service', 'cpu_short:16,cpu_long:2'], { encoding: 'utf8' });
    if (escaped.error && process.env.CI !== 'true') {
      process.stderr.write('SKIPPED systemd-analyze check: systemd is not installed\n');
      return;
    }
    const instance = escaped.stdout.trim();
    expect(instance).toBe('orchestrator-pool@cpu_short:16\\x2ccpu_long:2.service');
    const unescaped = spawnSync('systemd-escape', ['--unescape', '--instance', instance], { encoding: 'utf8' }).stdout.trim();
    expect(parsePoolClasses(unescaped, '--classes')).toEqual({ cpu_short: 16, cpu_long: 2 });
    // `verify FILE:NAME` loads the template under the instance's name (its specifiers resolved).
    const dir = mkdtempSync(join(tmpdir(), 'orq-units-'));
    try {
      cpSync(join(PROJECT_ROOT, 'deploy/systemd'), dir, { recursive: true });
      for (const name of [`${join(dir, 'orchestrator-pool@.service')}:${instance}`, join(dir, 'orchestrator.service')]) {
        const v = spawnSync('systemd-analyze', ['verify', '--man=no', name], { encoding: 'utf8' });
        expect(v.status, `${name}: ${v.stdout}${v.stderr}`).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!PROMTOOL)('the shipped Prometheus config is valid and the alert rules pass their unit tests', () => {
    const config = runPromtool(PROMTOOL!, ['check', 'config', join(PROJECT_ROOT, 'deploy/prometheus/prometheus.yml')]);
    expect(config.status, config.output).toBe(0);
    // Job names the rules select by: orchestrators and pools apart.
    const scrape = file('deploy/prometheus/prometheus.yml');
    for (const job of ['orchestrator', 'orchestrator-pool']) expect(scrape).toContain(`- job_name: ${job}\n`);
    const rules = runPromtool(PROMTOOL!, ['test', 'rules', join(PROJECT_ROOT, 'deploy/prometheus/alerts.test.yml')]);
    expect(rules.status, rules.output).toBe(0);
    expect(rules.output).toContain('SUCCESS');
  });
});
