/**
 * The process entry points as users run them: `npm start`'s embedded Redis and demo, the
 * orchestrator and pool binaries' SIGTERM handling, and a bad config stopping start-up.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/paths.js';
import { startRedisServerProcess } from '../src/redis/redis-server-process.js';
import { startRedis } from './helpers/redis-server.js';
import { waitFor } from './helpers/wait.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Every process a test started; whatever a failed test left running is killed after it. */
const started: ReturnType<typeof spawn>[] = [];
afterEach(async () => {
  const alive = started.splice(0).filter((c) => c.exitCode === null && c.signalCode === null);
  await Promise.all(
    alive.map(
      (c) =>
        new Promise<void>((resolve) => {
          c.once('exit', () => resolve());
          c.kill('SIGKILL');
        }),
    ),
  );
});

function run(script: string, args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [join(PROJECT_ROOT, script), ...args], {
    env: { PATH: process.env.PATH, ORCHESTRATOR_HTTP_ADDR: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

describe('process entry points', () => {
  it('start --demo runs the whole system on an embedded redis-server and shows results', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orq-start-'));
    const config = join(dir, 'c.toml');
    writeFileSync(
      config,
      `[redis.embedded]\ndataDir = "${join(dir, 'redis')}"\nport = ${await freePort()}\n[grpc]\naddr = "127.0.0.1:${await freePort()}"\n[http]\naddr = "127.0.0.1:0"\n`,
    );
    const p = run('dist/src/bin/start.js', ['--demo', '--exit', '--config', config], {});
    expect(await p.exited).toBe(0);
    const out = p.output();
    expect(out).toContain('submitted 6 tasks');
    // Where the dashboard is: the login URL on the start that made the token, its file's path after.
    expect(out).toMatch(/dashboard {2}http:\/\/127\.0\.0\.1:\d+\/admin\/(\?token=\S{32,} {2}|.*the token in )/);
    expect(out).toMatch(/demo-echo-high\s+succeeded/);
    expect(out).toMatch(/demo-retry\s+succeeded\s+2/);
    expect(out).toMatch(/demo-timeout\s+failed\s+1\s+timed out/);
    expect(out).toMatch(/workflow demo-diamond, run demo-\w+: succeeded/);
    expect(out).toContain('{"both":"L21+R21"}');
    // Six tasks and the workflow's four steps.
    expect(out).toContain('finished 10');
  });

  it('the orchestrator and a pool exit 0 on SIGTERM', async () => {
    const redis = await startRedis();
    try {
      const env = { REDIS_URL: redis.url, ORCHESTRATOR_GRPC_ADDR: `127.0.0.1:${await freePort()}` };
      const orch = run('dist/src/bin/orchestrator.js', [], env);
      const pool = run('dist/workers/main.js', ['--classes', 'cpu_short:2'], env);
      await waitFor(() => orch.output().includes('orchestrator serving') && pool.output().includes('pool started'));
      orch.child.kill('SIGTERM');
      pool.child.kill('SIGINT');
      expect(await orch.exited).toBe(0);
      expect(await pool.exited).toBe(0);
      expect(orch.output()).toContain('orchestrator stopped');
      expect(pool.output()).toContain('pool stopped');
    } finally {
      await redis.stop();
    }
  });

  it('an orchestrator and a pool started before Redis wait for it, serve, and ride out an outage without stack traces', async () => {
    const port = await freePort();
    const env = { REDIS_URL: `redis://127.0.0.1:${port}`, ORCHESTRATOR_GRPC_ADDR: `127.0.0.1:${await freePort()}` };
    const orch = run('dist/src/bin/orchestrator.js', [], env);
    const pool = run('dist/workers/main.js', ['--classes', 'cpu_short:2'], env);
    await waitFor(() => orch.output().includes('Redis is not reachable yet') && pool.output().includes('Redis is not reachable yet'));
    const dir = mkdtempSync(join(tmpdir(), 'orq-late-redis-'));
    let redis = await startRedisServerProcess({ port, dir });
    try {
      await waitFor(() => orch.output().includes('orchestrator serving') && pool.output().includes('pool started'), { timeoutMs: 30_000 });
      const { OrchestratorClient, ServingStatus, TaskState } = await import('../src/client/orchestrator-client.js');
      const client = new OrchestratorClient(env.ORCHESTRATOR_GRPC_ADDR);
      try {
        const { taskId } = await client.submitTask({ taskClass: 'cpu_short', payload: { ms: '1' }, executor: { handler: 'sleep' } });
        expect((await client.waitForResult(taskId, { timeoutMs: 20_000 })).state).toBe(TaskState.TASK_STATE_SUCCEEDED);
        // Redis goes away: both keep running and say so, without a stack trace on stderr for
        // each reconnect (BullMQ prints the errors of a Queue nobody listens to).
        await redis.stop();
        const before = orch.output().length;
        await waitFor(async () => (await client.health().catch(() => undefined))?.status === ServingStatus.SERVING_STATUS_NOT_SERVING, { timeoutMs: 20_000 });
        await waitFor(() => orch.output().slice(before).includes('retention sweep failed'), { timeoutMs: 20_000 });
        expect(orch.child.exitCode).toBeNull();
        expect(pool.child.exitCode).toBeNull();
        const stackLines = (text: string) => text.split('\n').filter((l) => /^\s*(Error:|at )/.test(l));
        expect(stackLines(orch.output())).toEqual([]);
        expect(stackLines(pool.output())).toEqual([]);
        // Back: it serves again.
        redis = await startRedisServerProcess({ port, dir });
        const again = await waitFor(
          () => client.submitTask({ taskClass: 'cpu_short', payload: { ms: '1' }, executor: { handler: 'sleep' } }).catch(() => undefined),
          { timeoutMs: 30_000 },
        );
        expect((await client.waitForResult(again!.taskId, { timeoutMs: 20_000 })).state).toBe(TaskState.TASK_STATE_SUCCEEDED);
      } finally {
        client.close();
      }
    } finally {
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an orchestrator stopped with SIGTERM ends its open streams UNAVAILABLE; waitForResult rides out the restart', async () => {
    const redis = await startRedis();
    try {
      const env = { REDIS_URL: redis.url, ORCHESTRATOR_GRPC_ADDR: `127.0.0.1:${await freePort()}` };
      const orch = run('dist/src/bin/orchestrator.js', [], env);
      await waitFor(() => orch.output().includes('orchestrator serving'));
      const { OrchestratorClient, TaskState } = await import('../src/client/orchestrator-client.js');
      const client = new OrchestratorClient(env.ORCHESTRATOR_GRPC_ADDR);
      try {
        // Each stream is seen delivering before the server is told to stop: a task's submit
        // on the events stream, its cancel on the results stream.
        const seen: string[] = [];
        const follow = async (stream: AsyncIterable<{ taskId?: string }>, name: string) => {
          try {
            for await (const item of stream) seen.push(`${name}:${item.taskId}`);
            return 'ended without a status';
          } catch (err) {
            return err as { code?: number; details?: string };
          }
        };
        const results = follow(client.streamTaskResults({ taskClass: 'cpu_short', cursor: '0' }), 'result');
        const events = follow(client.streamEvents({ taskClasses: ['cpu_short'], cursor: '0' }), 'event');
        const { taskId } = await client.submitTask({ taskClass: 'cpu_short', payload: { text: 'x' }, executor: { handler: 'echo' } });
        await waitFor(() => seen.includes(`event:${taskId}`));
        await client.cancelTask(taskId);
        await waitFor(() => seen.includes(`result:${taskId}`));
        // A task no pool runs yet, waited for across the front end's restart.
        const pending = await client.submitTask({ taskClass: 'cpu_short', payload: { text: 'later' }, executor: { handler: 'echo' } });
        const waited = client.waitForResult(pending.taskId, { timeoutMs: 60_000 });
        orch.child.kill('SIGTERM');
        expect(await orch.exited).toBe(0);
        for (const r of [await results, await events]) {
          expect(r).toMatchObject({ code: GrpcStatus.UNAVAILABLE });
          expect((r as { details: string }).details).toContain('resume from your last cursor');
        }
        const again = run('dist/src/bin/orchestrator.js', [], env);
        run('dist/workers/main.js', ['--classes', 'cpu_short:1'], env);
        await waitFor(() => again.output().includes('orchestrator serving'), { timeoutMs: 30_000 });
        expect((await waited).state).toBe(TaskState.TASK_STATE_SUCCEEDED);
      } finally {
        client.close();
      }
    } finally {
      await redis.stop();
    }
  });

  it('a pool stopping while Redis is down exits in bounded time: at once when idle, after its grace when busy', async () => {
    const redis = await startRedis();
    const dir = mkdtempSync(join(tmpdir(), 'orq-stop-down-'));
    try {
      const env = { REDIS_URL: redis.url, ORCHESTRATOR_GRPC_ADDR: `127.0.0.1:${await freePort()}` };
      const orch = run('dist/src/bin/orchestrator.js', [], env);
      // The idle pool has a grace far longer than the wait below allows: it must not need it.
      writeFileSync(join(dir, 'idle.toml'), '[pool]\nshutdownGraceMs = 600000\n');
      // A 1 s hand-back timeout instead of 10 s: the busy pool waits it out with Redis down.
      writeFileSync(join(dir, 'busy.toml'), '[pool]\nshutdownGraceMs = 2000\nhandBackTimeoutMs = 1000\n');
      const idle = run('dist/workers/main.js', ['--classes', 'cpu_long:1', '--config', join(dir, 'idle.toml')], env);
      const busy = run('dist/workers/main.js', ['--classes', 'cpu_short:1', '--config', join(dir, 'busy.toml')], env);
      await waitFor(() => orch.output().includes('orchestrator serving') && idle.output().includes('pool started') && busy.output().includes('pool started'));
      const { OrchestratorClient, TaskState } = await import('../src/client/orchestrator-client.js');
      const client = new OrchestratorClient(env.ORCHESTRATOR_GRPC_ADDR);
      try {
        const { taskId } = await client.submitTask({ taskClass: 'cpu_short', payload: { ms: '600000' }, executor: { handler: 'sleep' } });
        await waitFor(async () => (await client.getTaskStatus(taskId)).state === TaskState.TASK_STATE_RUNNING, { timeoutMs: 20_000 });
      } finally {
        client.close();
      }
      await redis.stop();
      idle.child.kill('SIGTERM');
      busy.child.kill('SIGTERM');
      // Bounds, not timings: the idle pool within 20 s of its 600 s grace, the busy one within
      // its 2 s grace plus the hand-back's 1 s and some.
      expect(await Promise.race([idle.exited, new Promise((r) => setTimeout(() => r('still running'), 20_000))])).toBe(0);
      expect(await Promise.race([busy.exited, new Promise((r) => setTimeout(() => r('still running'), 30_000))])).toBe(0);
      expect(busy.output()).toContain('grace period over: handing running tasks back');
      expect(busy.output()).toContain('Redis did not take the pool');
    } finally {
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bad config value stops start-up with the key named and exit code 2', async () => {
    const p = run('dist/workers/main.js', ['--classes', 'cpu_short:2'], { REDIS_URL: 'redis://127.0.0.1:1', ORCHESTRATOR_SANDBOX: 'vm' });
    expect(await p.exited).toBe(2);
    expect(p.output()).toContain('pool.sandbox');
  });

  it('a pool runs sandboxed handlers in worker threads when configured', async () => {
    const redis = await startRedis();
    try {
      // The crash handler is a test handler: off unless the config turns test handlers on.
      const config = join(mkdtempSync(join(tmpdir(), 'orq-threads-')), 'c.toml');
      writeFileSync(config, '[executors.handler]\ntestHandlers = true\n');
      const env = {
        REDIS_URL: redis.url,
        ORCHESTRATOR_GRPC_ADDR: `127.0.0.1:${await freePort()}`,
        ORCHESTRATOR_SANDBOX: 'thread',
        ORCHESTRATOR_CONFIG: config,
      };
      const orch = run('dist/src/bin/orchestrator.js', [], env);
      const pool = run('dist/workers/main.js', ['--classes', 'cpu_short:2'], env);
      await waitFor(() => orch.output().includes('orchestrator serving') && pool.output().includes('pool started'));
      const { OrchestratorClient, TaskState } = await import('../src/client/orchestrator-client.js');
      const client = new OrchestratorClient(env.ORCHESTRATOR_GRPC_ADDR);
      const { taskId } = await client.submitTask({ taskClass: 'cpu_short', payload: { ms: '10' }, executor: { handler: 'sleep' } });
      const r = await client.waitForResult(taskId, { timeoutMs: 20_000 });
      expect(r.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
      const crash = await client.submitTask({ taskClass: 'cpu_short', payload: { a: '1' }, executor: { handler: 'crash' }, maxAttempts: 1 });
      expect((await client.waitForResult(crash.taskId, { timeoutMs: 20_000 })).state).toBe(TaskState.TASK_STATE_FAILED);
      expect(pool.child.exitCode).toBeNull();
      client.close();
      orch.child.kill('SIGTERM');
      pool.child.kill('SIGTERM');
      await Promise.all([orch.exited, pool.exited]);
    } finally {
      await redis.stop();
    }
  });
});
