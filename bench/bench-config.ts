/**
 * The configuration the bench's orchestrator and its pool share: two bench classes, one whose
 * `echo` handler runs in the pool process and one sandboxed (BullMQ child processes), each
 * with the concurrency its baseline Worker gets. No environment, no file: nothing on the
 * machine can change what is measured.
 */
import { loadConfig, type Config } from '../src/config/config.js';

export const INPROC_CLASS = 'bench_inproc';
export const SANDBOX_CLASS = 'bench_sandbox';
/** Concurrency of the in-process runs, ours and the baseline Worker's. */
export const INPROC_CONCURRENCY = 16;
/**
 * The runner scenario's class (bench/runner-scenario.ts): its tasks go to one task runner
 * process (bench/runner-process.ts) over the runner protocol, at the in-process concurrency.
 */
export const RUNNER_CLASS = 'bench_runner';
/** Concurrency of the sandboxed runs: also the number of sandbox children on either side. */
export const SANDBOX_CONCURRENCY = 8;
/**
 * The cluster scenario's classes (bench/cluster-scenario.ts): four in-process no-op classes, so
 * that a layout with a hash tag per class can spread them over up to four masters.
 */
export const CLUSTER_CLASSES = ['bench_c0', 'bench_c1', 'bench_c2', 'bench_c3'] as const;
/** Concurrency of each cluster class, ours and the baseline Worker's of its queue. */
export const CLUSTER_CONCURRENCY = 8;

/**
 * The cluster scenario's hot class: one class taking every task, run unpartitioned and then split
 * into partitions over the masters (classes.<name>.partitions), to show what partitions buy a
 * class too busy for one shard.
 */
export const HOT_CLASS = 'bench_hot';
/** The hot class's concurrency in its pool (split over its partitions' Workers). */
export const HOT_CONCURRENCY = 24;

/**
 * The BullMQ prefix of the baseline's queue `queue` in the cluster scenario: a hash tag of its
 * own per queue, as BullMQ asks for on a cluster, so that its queues spread over the masters.
 */
export function clusterBullPrefix(prefix: string, queue: string): string {
  return `{${prefix}-${queue}}`;
}

export interface BenchConfigOptions {
  redisUrl: string;
  prefix: string;
  poolId?: string;
  /** Classes a pool serves, with their concurrency; none for the orchestrator. */
  poolClasses?: Record<string, number>;
  /** OTLP/HTTP endpoint spans go to (the tracing scenario's sink); none: tracing off, as by default. */
  tracingEndpoint?: string;
  /** redis.waitReplicas of the orchestrator (--wait-replicas). @default 0 */
  waitReplicas?: number;
  /** Also configure CLUSTER_CLASSES (only the cluster scenario: other scenarios' processes know two classes, as before). @default false */
  clusterClasses?: boolean;
  /** Also configure HOT_CLASS with this many partitions (the cluster scenario's hot class). @default none */
  hotPartitions?: number;
  /** host:port of the runner scenario's task runner: configures RUNNER_CLASS and its runner. @default none */
  runnerAddress?: string;
}

export function benchConfig(opts: BenchConfigOptions): Config {
  return loadConfig({
    env: {},
    overrides: {
      logLevel: 'warn',
      redis: { url: opts.redisUrl, prefix: opts.prefix, waitReplicas: opts.waitReplicas ?? 0 },
      // Every bench client is one caller (127.0.0.1): the streams scenario holds 1,000 streams
      // and then waitForResult calls beyond them; and it submits as fast as Redis takes it, which
      // is what is measured, so no submit rate limit.
      grpc: { addr: '127.0.0.1:0', maxStreamsPerCaller: 100_000, submitRateLimit: { perSecond: 0 } },
      http: { addr: '127.0.0.1:0' },
      ...(opts.runnerAddress ? { executors: { runner: { runners: { bench: { address: opts.runnerAddress } } } } } : {}),
      pool: { id: opts.poolId ?? 'bench-pool', classes: opts.poolClasses ?? {}, heartbeatMs: 1_000, shutdownGraceMs: 2_000 },
      ...(opts.tracingEndpoint ? { tracing: { endpoint: opts.tracingEndpoint } } : {}),
      classes: {
        // One attempt, as a plain BullMQ job has by default: both sides store and run the same.
        [INPROC_CLASS]: { concurrency: INPROC_CONCURRENCY, attempts: 1, inProcessHandlers: true },
        [SANDBOX_CLASS]: { concurrency: SANDBOX_CONCURRENCY, attempts: 1 },
        ...(opts.clusterClasses
          ? Object.fromEntries(CLUSTER_CLASSES.map((c) => [c, { concurrency: CLUSTER_CONCURRENCY, attempts: 1, inProcessHandlers: true }]))
          : {}),
        ...(opts.runnerAddress
          ? {
              [RUNNER_CLASS]: {
                concurrency: INPROC_CONCURRENCY,
                attempts: 1,
                policy: { executors: ['runner' as const], runner: { runners: ['bench'] } },
              },
            }
          : {}),
        ...(opts.hotPartitions ? { [HOT_CLASS]: { concurrency: HOT_CONCURRENCY, attempts: 1, inProcessHandlers: true, partitions: opts.hotPartitions } } : {}),
      },
    },
  });
}
