/**
 * `npm start -- --demo` with tokens configured: the demo is a client like any other, so it must
 * pick a token that may do all it does (create a workflow: operate; tasks of several classes),
 * not merely the first one listed.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/paths.js';
import { freePort, startRedis, type RedisServerHandle } from '../helpers/redis-server.js';

let redis: RedisServerHandle;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

describe('start --demo with token roles', () => {
  it('uses the highest-role token not limited to classes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orq-demo-roles-'));
    const config = join(dir, 'c.toml');
    const token = (t: string, role: string, classes = '') => `[[grpc.auth.tokens]]\ntoken = "${t}"\nrole = "${role}"\n${classes}`;
    writeFileSync(
      config,
      `[grpc]\naddr = "127.0.0.1:${await freePort()}"\n[http]\naddr = "127.0.0.1:0"\n` +
        token('demo-read-0123456789abcdef', 'read') +
        token('demo-limited-admin-0123456789', 'admin', 'classes = ["cpu_short"]\n') +
        token('demo-operate-0123456789abcdef', 'operate'),
    );
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'dist/src/bin/start.js'), '--demo', '--exit', '--config', config], {
      env: { PATH: process.env.PATH ?? '', REDIS_URL: redis.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, out).toBe(0);
    expect(out).toMatch(/workflow demo-diamond, run demo-\w+: succeeded/);
    expect(out).not.toContain('PERMISSION_DENIED');
  });
});
