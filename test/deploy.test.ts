/**
 * The deployment files: docker-compose.yml is valid for docker-compose (Debian's, as CI installs
 * it), the Dockerfile copies only what exists, and the systemd units restart on failure, run
 * as an unprivileged user with a hardening section, and start entry points the build produces.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/paths.js';

const file = (p: string) => readFileSync(join(PROJECT_ROOT, p), 'utf8');

function dockerCompose(): boolean {
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return true;
  if (process.env.CI === 'true') throw new Error('docker-compose is missing; CI must install it (.ci/run)');
  process.stderr.write('SKIPPED docker-compose config check: docker-compose is not installed (apt-get install docker-compose)\n');
  return false;
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
    expect(r.stdout).toContain('--appendonly');
    expect(r.stdout.match(/healthcheck:/g)?.length).toBe(3);
    // A service that scales must not pin a container name or a host port.
    const pool = r.stdout.slice(r.stdout.indexOf('  pool-cpu:'), r.stdout.indexOf('\n  redis:'));
    expect(pool).not.toMatch(/container_name|ports:/);
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
});
