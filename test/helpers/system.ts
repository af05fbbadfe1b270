/**
 * A whole Orchestrator for integration tests: a throwaway redis-server, the orchestrator
 * in-process on 127.0.0.1:0, and worker pools as real child processes (built JS in dist/, so
 * run `npm run build` first; `npm test` does).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { OrchestratorClient } from '../../src/client/orchestrator-client.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createLogger } from '../../src/logging/logger.js';
import type { Orchestrator } from '../../src/orchestrator.js';
import type { Keys } from '../../src/store/keys.js';
import { keysFor } from '../../src/store/keys-for.js';
import { PROJECT_ROOT } from '../../src/paths.js';
import { startRedis, type RedisServerHandle } from './redis-server.js';
import type { NetnsHost } from './netns.js';
import { waitFor } from './wait.js';

/**
 * The execution policy the suites run under: every executor kind open on the classes they use,
 * the test handlers on, raw commands (as nobody where the pool runs as root, as a careful
 * operator would set it), containers of the suites' local images. The security suites
 * (test/security/) check the safe defaults and each rule on its own.
 */
export const OPEN_POLICY = `{ executors = ["handler", "command", "http", "container", "slurm"], command = { raw = true${
  process.getuid?.() === 0 ? ', runAs = "nobody"' : ''
} }, container = { images = ["orchestrator-test/*"] }, slurm = { raw = true, partitions = ["debug", "gpu"] } }`;

/**
 * Short lock and stall timings so a killed pool's task is recovered within seconds, a `test`
 * class whose handlers run in-process, and the open policy above.
 */
export const TEST_CONFIG_TOML = `
logLevel = "warn"
[executors.handler]
testHandlers = true
[pool]
heartbeatMs = 500
shutdownGraceMs = 5000
[workflows]
maxSteps = 500
recoverAfterMs = 1500
sweepIntervalMs = 250
[classes.cpu_short]
policy = ${OPEN_POLICY}
concurrency = 4
attempts = 1
lockDurationMs = 2000
stalledIntervalMs = 1000
maxStalledCount = 2
backoff = { type = "fixed", delayMs = 100 }
[classes.cpu_long]
policy = ${OPEN_POLICY}
concurrency = 2
lockDurationMs = 2000
stalledIntervalMs = 1000
[classes.inproc]
policy = ${OPEN_POLICY}
concurrency = 4
attempts = 1
inProcessHandlers = true
lockDurationMs = 2000
stalledIntervalMs = 1000
# Last, so a suite can add keys of its own to gpu_slurm by appending lines (test/helpers/slurm.ts).
[classes.gpu_slurm]
policy = ${OPEN_POLICY}
`;

export interface PoolProcess {
  id: string;
  /** http://host:port of the pool's /metrics, /health and /ready (from its heartbeat). */
  metricsUrl: string;
  child: ChildProcess;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  output(): string;
  kill(signal?: NodeJS.Signals): void;
}

export interface ServedProcess {
  /** http://host:port it serves on. */
  httpUrl: string;
  child: ChildProcess;
  exited: Promise<number | string>;
  output(): string;
  kill(signal?: NodeJS.Signals): void;
}

export interface OrchestratorProcess {
  addr: string;
  /** http://host:port of /metrics, /health, /ready and the dashboard. */
  httpUrl: string;
  client: OrchestratorClient;
  child: ChildProcess;
  exited: Promise<number | string>;
  output(): string;
  kill(signal?: NodeJS.Signals): void;
}

/** What a system runs on: one throwaway redis-server, or a Redis Cluster (test/helpers/redis-cluster.ts). */
export interface RedisHandle {
  /** The URL processes get as REDIS_URL (several hosts for a cluster). */
  url: string;
  stop(): Promise<void>;
}

/** A plain connection for assertions: a Redis, or a Cluster client for a cluster. */
type AssertConnection<H> = H extends RedisServerHandle ? Redis : Redis | Cluster;

/** Redis, config and child processes, without an orchestrator in the test process. */
export interface BareSystem<H extends RedisHandle = RedisServerHandle> {
  redis: H;
  /** A plain connection for assertions. */
  r: AssertConnection<H>;
  keys: Keys;
  config: Config;
  configFile: string;
  /** A pool process; with `host`, on that network-namespace host (test/helpers/netns.ts) as another machine. */
  startPool(opts?: { classes?: string; id?: string; env?: Record<string, string>; host?: NetnsHost }): Promise<PoolProcess>;
  /** An orchestrator as a child process on a free port (built JS in dist/). */
  startOrchestrator(opts?: { addr?: string }): Promise<OrchestratorProcess>;
  /** The dashboard on its own as a child process (src/bin/dashboard.ts). */
  startDashboard(): Promise<ServedProcess>;
  stop(): Promise<void>;
}

export interface TestSystem<H extends RedisHandle = RedisServerHandle> extends BareSystem<H> {
  orchestrator: Orchestrator;
  client: OrchestratorClient;
  addr: string;
  /** http://127.0.0.1:port of the in-process orchestrator's HTTP server. */
  httpUrl: string;
}

let poolSeq = 0;

function spawnWithOutput(args: string[], env: Record<string, string | undefined>, host?: NetnsHost) {
  const opts = { env, stdio: ['ignore', 'pipe', 'pipe'] } satisfies SpawnOptions;
  // `ip netns exec` execs the command in place: the child's pid is the pool's own.
  const child = host ? host.spawn(process.execPath, args, opts) : spawn(process.execPath, args, opts);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  return { child, exited, output: () => output, kill: (sig: NodeJS.Signals = 'SIGTERM') => child.kill(sig) };
}

export async function startBareSystem<H extends RedisHandle = RedisServerHandle>(opts: { toml?: string; redis?: H } = {}): Promise<BareSystem<H>> {
  // A suite may bring a server of its own (the soak's restartable one, with AOF; a cluster); stop() stops it.
  const redis = (opts.redis ?? (await startRedis())) as H;
  const dir = mkdtempSync(join(tmpdir(), 'orq-test-'));
  const configFile = join(dir, 'orchestrator.toml');
  const dashboardTokenFile = join(dir, 'state', 'dashboard-token');
  writeFileSync(configFile, opts.toml ?? TEST_CONFIG_TOML);
  const config = loadConfig({
    file: configFile,
    env: {},
    // The dashboard's generated token (no users or tokens configured) goes in the test's own folder.
    overrides: {
      redis: { url: redis.url },
      grpc: { addr: '127.0.0.1:0' },
      http: { addr: '127.0.0.1:0', dashboard: { generatedTokenFile: dashboardTokenFile } },
    },
  });
  const seeds = redis.url.replace(/^redis:\/\//, '').split(',');
  const r = (
    seeds.length > 1
      ? new Cluster(seeds.map((h) => ({ host: h.split(':')[0]!, port: Number(h.split(':')[1]) })))
      : new Redis(redis.url, { maxRetriesPerRequest: null })
  ) as AssertConnection<H>;
  r.on('error', () => undefined);
  const children: { child: ChildProcess; exited: Promise<unknown>; kill(sig?: NodeJS.Signals): void }[] = [];
  const clients: OrchestratorClient[] = [];
  const k = keysFor(config.redis.prefix, redis.url, config.classes);
  const env = {
    PATH: process.env.PATH,
    REDIS_URL: redis.url,
    ORCHESTRATOR_CONFIG: configFile,
    ORCHESTRATOR_HTTP_ADDR: '127.0.0.1:0',
    ORCHESTRATOR_DASHBOARD_TOKEN_FILE: dashboardTokenFile,
    ORCHESTRATOR_POOL_METRICS_ADDR: '127.0.0.1:0',
  };

  async function startPool(p: { classes?: string; id?: string; env?: Record<string, string>; host?: NetnsHost } = {}): Promise<PoolProcess> {
    const id = p.id ?? `test-pool-${process.pid}-${++poolSeq}`;
    const proc = spawnWithOutput(
      [join(PROJECT_ROOT, 'dist/workers/main.js'), '--classes', p.classes ?? 'cpu_short,cpu_long,inproc', '--pool-id', id],
      { ...env, ...p.env },
      p.host,
    );
    children.push(proc);
    const { child } = proc;
    await waitFor(async () => (await r.zscore(k.pools, id)) !== null || child.exitCode !== null, { timeoutMs: 60_000, message: `pool ${id} never registered` });
    if (child.exitCode !== null) throw new Error(`pool ${id} exited at start (${child.exitCode}):\n${proc.output()}`);
    const metrics = await r.hget(k.pool(id), 'metrics');
    return { id, metricsUrl: `http://${metrics}`, ...proc };
  }

  /** Spawns a process entry point and waits for the address it logs under `field`. */
  async function spawnServing(script: string, args: string[], field: 'grpc' | 'http', what: string) {
    const proc = spawnWithOutput([join(PROJECT_ROOT, script), ...args], { ...env, ORCHESTRATOR_LOG_LEVEL: 'info' });
    children.push(proc);
    const addr = await waitFor(
      () => {
        if (proc.child.exitCode !== null) throw new Error(`${what} exited at start (${proc.child.exitCode}):\n${proc.output()}`);
        return new RegExp(`"${field}":"(127\\.0\\.0\\.1:\\d+)"`).exec(proc.output())?.[1] ?? '';
      },
      { timeoutMs: 60_000, message: `${what} never served` },
    );
    return { proc, addr, httpUrl: `http://${/"http":"(127\.0\.0\.1:\d+)"/.exec(proc.output())![1]}` };
  }

  async function startOrchestrator(o: { addr?: string } = {}): Promise<OrchestratorProcess> {
    const { proc, addr, httpUrl } = await spawnServing('dist/src/bin/orchestrator.js', ['--grpc-addr', o.addr ?? '127.0.0.1:0'], 'grpc', 'orchestrator');
    const client = new OrchestratorClient(addr, { defaultDeadlineMs: 20_000 });
    clients.push(client);
    return { addr, httpUrl, client, ...proc };
  }

  async function stop(): Promise<void> {
    for (const c of clients) c.close();
    for (const p of children) if (p.child.exitCode === null && p.child.signalCode === null) p.kill('SIGKILL');
    await Promise.all(children.map((p) => p.exited));
    r.disconnect();
    await redis.stop();
  }

  async function startDashboard(): Promise<ServedProcess> {
    const { proc, httpUrl } = await spawnServing('dist/src/bin/dashboard.js', [], 'http', 'dashboard');
    return { httpUrl, ...proc };
  }

  return { redis, r, keys: k, config, configFile, startPool, startOrchestrator, startDashboard, stop };
}

export async function startSystem<H extends RedisHandle = RedisServerHandle>(opts: { toml?: string; redis?: H } = {}): Promise<TestSystem<H>> {
  const bare = await startBareSystem<H>(opts);
  // Imported here: a suite that starts its front ends as processes (startBareSystem) does not load it.
  const { Orchestrator } = await import('../../src/orchestrator.js');
  const orchestrator = new Orchestrator({ config: bare.config, redisUrl: bare.redis.url, logger: createLogger('warn', { process: 'test-orchestrator' }) });
  await orchestrator.start();
  const addr = `127.0.0.1:${orchestrator.grpcPort}`;
  const client = new OrchestratorClient(addr, { defaultDeadlineMs: 20_000 });
  return {
    ...bare,
    orchestrator,
    client,
    addr,
    httpUrl: `http://127.0.0.1:${orchestrator.httpPort}`,
    async stop() {
      client.close();
      // The pools and Redis go whatever happens to the orchestrator's close: a close that fails
      // or hangs must not leave the suite's processes running.
      let timer: NodeJS.Timeout | undefined;
      try {
        const hung = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the orchestrator did not close within 20 s')), 20_000)));
        await Promise.race([orchestrator.close(1_000), hung]);
      } finally {
        clearTimeout(timer);
        await bare.stop();
      }
    },
  };
}
