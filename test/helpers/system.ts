/**
 * A whole Orchestrator for integration tests: a throwaway redis-server, the orchestrator
 * in-process on 127.0.0.1:0, and worker pools as real child processes (built JS in dist/, so
 * run `npm run build` first; `npm test` does).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { OrchestratorClient } from '../../src/client/orchestrator-client.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createLogger } from '../../src/logging/logger.js';
import { Orchestrator } from '../../src/orchestrator.js';
import { keys, type Keys } from '../../src/redis/keys.js';
import { PROJECT_ROOT } from '../../src/paths.js';
import { startRedis, type RedisServerHandle } from './redis-server.js';
import { waitFor } from './wait.js';

/**
 * Short lock and stall timings so a killed pool's task is recovered within seconds, and a
 * `test` class whose handlers run in-process.
 */
export const TEST_CONFIG_TOML = `
logLevel = "warn"
[pool]
heartbeatMs = 500
shutdownGraceMs = 5000
[classes.cpu_short]
concurrency = 4
attempts = 1
lockDurationMs = 2000
stalledIntervalMs = 1000
maxStalledCount = 2
backoff = { type = "fixed", delayMs = 100 }
[classes.cpu_long]
concurrency = 2
lockDurationMs = 2000
stalledIntervalMs = 1000
[classes.inproc]
concurrency = 4
attempts = 1
inProcessHandlers = true
lockDurationMs = 2000
stalledIntervalMs = 1000
`;

export interface PoolProcess {
  id: string;
  child: ChildProcess;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  output(): string;
  kill(signal?: NodeJS.Signals): void;
}

export interface TestSystem {
  redis: RedisServerHandle;
  /** A plain connection for assertions. */
  r: Redis;
  keys: Keys;
  config: Config;
  configFile: string;
  orchestrator: Orchestrator;
  client: OrchestratorClient;
  addr: string;
  startPool(opts?: { classes?: string; id?: string; env?: Record<string, string> }): Promise<PoolProcess>;
  stop(): Promise<void>;
}

let poolSeq = 0;

export async function startSystem(opts: { toml?: string; withOrchestrator?: boolean } = {}): Promise<TestSystem> {
  const redis = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), 'orq-test-'));
  const configFile = join(dir, 'orchestrator.toml');
  writeFileSync(configFile, opts.toml ?? TEST_CONFIG_TOML);
  const config = loadConfig({ file: configFile, env: {}, overrides: { redis: { url: redis.url }, grpc: { addr: '127.0.0.1:0' } } });
  const orchestrator = new Orchestrator({ config, redisUrl: redis.url, logger: createLogger('warn', { process: 'test-orchestrator' }) });
  await orchestrator.start();
  const addr = `127.0.0.1:${orchestrator.grpcPort}`;
  const client = new OrchestratorClient(addr, { defaultDeadlineMs: 20_000 });
  const r = new Redis(redis.url, { maxRetriesPerRequest: null });
  r.on('error', () => undefined);
  const pools: PoolProcess[] = [];
  const k = keys(config.redis.prefix);

  async function startPool(p: { classes?: string; id?: string; env?: Record<string, string> } = {}): Promise<PoolProcess> {
    const id = p.id ?? `test-pool-${process.pid}-${++poolSeq}`;
    const child = spawn(
      process.execPath,
      [join(PROJECT_ROOT, 'dist/workers/main.js'), '--classes', p.classes ?? 'cpu_short,cpu_long,inproc', '--pool-id', id],
      {
        env: { PATH: process.env.PATH, REDIS_URL: redis.url, ORCHESTRATOR_CONFIG: configFile, ...p.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | string>((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
    const pool: PoolProcess = { id, child, exited, output: () => output, kill: (sig = 'SIGTERM') => child.kill(sig) };
    pools.push(pool);
    await waitFor(async () => (await r.zscore(k.pools, id)) !== null || child.exitCode !== null, { timeoutMs: 20_000, message: `pool ${id} never registered` });
    if (child.exitCode !== null) throw new Error(`pool ${id} exited at start (${child.exitCode}):\n${output}`);
    return pool;
  }

  async function stop(): Promise<void> {
    client.close();
    for (const p of pools) if (p.child.exitCode === null && p.child.signalCode === null) p.kill('SIGKILL');
    await Promise.all(pools.map((p) => p.exited));
    await orchestrator.close(1_000);
    r.disconnect();
    await redis.stop();
  }

  return { redis, r, keys: k, config, configFile, orchestrator, client, addr, startPool, stop };
}
