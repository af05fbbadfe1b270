/**
 * `npm start -- --demo` as a newcomer runs it: the start binary says what it does step by step,
 * where gRPC, the dashboard, /metrics and /health are, labels the demo's deliberate failures, and
 * leaves a system whose Health is SERVING on a CPU-only machine (what `orchctl health` shows).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/paths.js';
import { orchctl } from './helpers/orchctl.js';
import { waitFor } from './helpers/wait.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'orq-start-'));
let child: ReturnType<typeof spawn> | undefined;
afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
  }
});

describe('npm start', () => {
  it('prints its steps, the URLs and how to log in, labels the demo failures, and serves a healthy system', { timeout: 180_000 }, async () => {
    const config = join(dir, 'c.toml');
    // Ports of its own, so it never meets a developer's `npm start` on the defaults.
    writeFileSync(
      config,
      `[redis.embedded]\ndataDir = "${join(dir, 'redis')}"\nport = ${await freePort()}\n[grpc]\naddr = "127.0.0.1:0"\n[http]\naddr = "127.0.0.1:0"\n` +
        `[http.dashboard]\ngeneratedTokenFile = "${join(dir, 'dashboard-token')}"\n`,
    );
    const p = spawn(process.execPath, [join(PROJECT_ROOT, 'dist/src/bin/start.js'), '--demo', '--config', config], {
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = p;
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(
      () => {
        if (p.exitCode !== null) throw new Error(`start exited ${p.exitCode}:\n${out}`);
        return out.includes('serving: orchestrator on');
      },
      { timeoutMs: 150_000, message: 'npm start never got to serving' },
    );

    // The steps, in order, each timed.
    const steps = [
      /redis: no REDIS_URL, starting the embedded redis-server on 127\.0\.0\.1:\d+ \(data in .+\) \.\.\./,
      /redis: started \(\d+\.\d s\)/,
      /orchestrator: starting \(gRPC 127\.0\.0\.1:0, HTTP 127\.0\.0\.1:0\) \.\.\./,
      /orchestrator: started \(\d+\.\d s\)/,
      /pool: starting one worker pool for cpu_short \(16 at once\), cpu_long \(2 at once\) \.\.\./,
      /pool: started \(\d+\.\d s\)/,
      /ready in \d+\.\d s:/,
    ];
    const at = steps.map((re) => out.search(re));
    expect(
      at.every((i) => i >= 0),
      out,
    ).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);

    // Where everything is, and how to log in to the dashboard (this start made the token).
    const grpc = /^ {2}gRPC {7}(127\.0\.0\.1:\d+) {2}\(no token needed; try: node dist\/src\/cli\/orchctl\.js --addr \1 health\)$/m.exec(out);
    expect(grpc, out).not.toBeNull();
    expect(out).toMatch(
      /^ {2}dashboard {2}http:\/\/127\.0\.0\.1:\d+\/admin\/\?token=\S{32,} {2}\(open it once to log in; the admin token is kept in .+dashboard-token\)$/m,
    );
    const metrics = /^ {2}metrics {4}(http:\/\/127\.0\.0\.1:\d+\/metrics)$/m.exec(out);
    const health = /^ {2}health {5}(http:\/\/127\.0\.0\.1:\d+\/health) {2}and {2}http:\/\/127\.0\.0\.1:\d+\/ready$/m.exec(out);
    expect(metrics && health, out).toBeTruthy();

    // The demo: deliberate failures say so, and it ends as planned.
    expect(out).toMatch(/demo-timeout\s+failed\s+1\s+timed out after 300 ms\n\s+\^ this one fails on purpose: /);
    expect(out).toMatch(/demo-retry\s+succeeded\s+2 .*\n\s+\^ its attempt 1 fails on purpose/);
    expect(out).toContain('demo done: every task ended as planned');

    // Health right after: serving on a CPU-only start, in orchctl and over HTTP.
    const h = await orchctl(['--addr', grpc![1]!, 'health']);
    expect(h.code, h.out + h.err).toBe(0);
    expect(h.out).toMatch(/^serving /);
    const httpHealth = await fetch(health![1]!);
    expect(httpHealth.status).toBe(200);
    expect((await fetch(metrics![1]!)).status).toBe(200);

    const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
    p.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
