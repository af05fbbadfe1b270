/**
 * The pool's connections to its task runners (config `executors.runner.runners`): one gRPC
 * channel per runner, what the runner serves and how many calls it takes (its Describe), and
 * the slots that keep this pool within that number.
 *
 * A runner is `unknown` until described, `up` once Describe answered, `down` after a call or a
 * Describe failed to reach it. A down runner is described again at most every `reconnectMs`,
 * when a task asks for it, so a runner that comes back is used again without a restart of the
 * pool, and a pool with no work for it does not poll it.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import { Counter, Gauge, Histogram } from 'prom-client';
import { TASK_SECONDS_BUCKETS } from '../../src/monitoring/metrics-registry.js';
import type { PoolRunner } from '../../src/pools/pool-facts.js';
import { TaskRunnerClient, type DescribeResponse } from '../../src/gen/orchestrator/runner/v1/runner.js';

export interface RunnerTargetConfig {
  address: string;
  token: string;
  tokenFile: string;
  tls: boolean | { ca: string; cert: string; key: string; serverName: string };
  maxConcurrency: number;
}

export interface RunnerTargetsOptions {
  runners: Readonly<Record<string, RunnerTargetConfig>>;
  connectTimeoutMs: number;
  reconnectMs: number;
  /** Largest message taken from a runner. */
  maxMessageBytes: number;
  registry?: Registry;
}

/**
 * What Health and the heartbeat show of one runner (src/pools/pool-facts.ts `runners`): its
 * calls in flight from this pool, its capacity (the runner's announced concurrency, capped by
 * config; 0 before Describe), its task names, its own description or why it is down.
 */
export type RunnerStatus = PoolRunner;

type Outcome = 'succeeded' | 'failed' | 'error' | 'cancelled';

/** Statuses that say the runner will not take our calls however often they are sent. */
export const REFUSED: ReadonlySet<grpc.status> = new Set([grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED, grpc.status.UNIMPLEMENTED]);

/** Metrics of the runner calls of one pool, labelled by runner name. */
class RunnerMetrics {
  readonly calls: Counter<'runner' | 'outcome'>;
  readonly seconds: Histogram<'runner'>;

  constructor(registry: Registry, targets: () => Iterable<RunnerTarget>) {
    const registers = [registry];
    this.calls = new Counter({
      name: 'orq_pool_runner_calls_total',
      help: 'Execute calls this pool made to each task runner, by outcome: succeeded, failed (the task failed), error (the call failed: runner down, cut off, bad answer), cancelled.',
      labelNames: ['runner', 'outcome'],
      registers,
    });
    this.seconds = new Histogram({
      name: 'orq_pool_runner_call_seconds',
      help: 'Duration of Execute calls to each task runner.',
      labelNames: ['runner'],
      buckets: TASK_SECONDS_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'orq_pool_runner_up',
      help: '1 when the task runner answered its last call or Describe, 0 when it could not be reached, by runner.',
      labelNames: ['runner'],
      registers,
      collect() {
        for (const t of targets()) this.set({ runner: t.name }, t.state === 'up' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'orq_pool_runner_in_flight',
      help: 'Execute calls in flight from this pool, by runner.',
      labelNames: ['runner'],
      registers,
      collect() {
        for (const t of targets()) this.set({ runner: t.name }, t.inFlight);
      },
    });
  }
}

/** A slot on a runner, held for one call; released once. */
export interface RunnerSlot {
  readonly target: RunnerTarget;
  release(): void;
}

export class RunnerTarget {
  readonly client: TaskRunnerClient;
  state: RunnerStatus['state'] = 'unknown';
  tasks: ReadonlySet<string> = new Set();
  capacity = 0;
  inFlight = 0;
  detail = '';
  private describedAtMs = 0;
  private describing?: Promise<void>;
  private readonly waiters: (() => void)[] = [];
  private readonly token: string;

  constructor(
    readonly name: string,
    private readonly cfg: RunnerTargetConfig,
    private readonly opts: RunnerTargetsOptions,
    private readonly metrics: RunnerMetrics | undefined,
  ) {
    this.token = cfg.tokenFile ? readFileSync(cfg.tokenFile, 'utf8').trim() : cfg.token;
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': opts.maxMessageBytes + 64 * 1024,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.keepalive_permit_without_calls': 1,
      // A runner that restarts is found again by the next Describe, not by grpc-js's backoff.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': Math.max(1_000, opts.reconnectMs),
    };
    let creds = grpc.credentials.createInsecure();
    const { tls } = cfg;
    if (tls !== false) {
      const t = tls === true ? { ca: '', cert: '', key: '', serverName: '' } : tls;
      const read = (p: string) => (p ? readFileSync(p) : null);
      creds = grpc.credentials.createSsl(read(t.ca), read(t.key), read(t.cert));
      if (t.serverName) channelOptions['grpc.ssl_target_name_override'] = t.serverName;
    }
    this.client = new TaskRunnerClient(cfg.address, creds, channelOptions);
  }

  /** Call metadata: the runner's token, when one is configured; `waitForReady` queues the call until the channel connects. */
  metadata(waitForReady = false): grpc.Metadata {
    const md = new grpc.Metadata({ waitForReady });
    if (this.token) md.set('authorization', `Bearer ${this.token}`);
    return md;
  }

  /**
   * Down because the runner refused us (UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED): a
   * configuration error another attempt will not cure.
   */
  refused = false;

  /** Whether a Describe is in flight. */
  get describingNow(): boolean {
    return this.describing !== undefined;
  }

  /** Whether Describe should be asked (again) before this runner is used. */
  private stale(): boolean {
    return this.state === 'unknown' || (this.state === 'down' && Date.now() - this.describedAtMs >= this.opts.reconnectMs);
  }

  /** Asks Describe when the runner is unknown, or down for a while; one call at a time. */
  async refresh(): Promise<void> {
    if (!this.stale()) return;
    this.describing ??= this.describe().finally(() => (this.describing = undefined));
    await this.describing;
  }

  private describe(): Promise<void> {
    return new Promise((resolve) => {
      // waitForReady: a channel that failed before (the runner was down) connects again within
      // its backoff instead of failing the call at once; the deadline bounds the wait.
      const options = { deadline: Date.now() + this.opts.connectTimeoutMs };
      this.client.describe({}, this.metadata(true), options, (err: grpc.ServiceError | null, res?: DescribeResponse) => {
        this.describedAtMs = Date.now();
        if (err || !res) {
          this.markDown(`Describe: ${err ? describeGrpcError(err) : 'no answer'}`);
          this.refused = err !== null && REFUSED.has(err.code);
          this.wake();
        } else {
          this.refused = false;
          const announced = Math.max(1, Math.min(res.maxConcurrency || 1, 100_000));
          this.capacity = this.cfg.maxConcurrency > 0 ? Math.min(this.cfg.maxConcurrency, announced) : announced;
          this.tasks = new Set(res.taskNames.slice(0, 10_000).map((n) => n.slice(0, 128)));
          this.detail = res.runner.slice(0, 200);
          this.state = 'up';
          this.wake();
        }
        resolve();
      });
    });
  }

  /** The runner could not be reached: down until a Describe answers again. */
  markDown(why: string): void {
    this.state = 'down';
    this.detail = why.slice(0, 300);
    this.describedAtMs = Date.now();
  }

  /** A call reached the runner and it answered: up (without a fresh Describe). */
  markUp(): void {
    if (this.state === 'down') this.state = 'up';
  }

  hasFreeSlot(): boolean {
    return this.state === 'up' && this.inFlight < this.capacity;
  }

  /** Takes a slot; the caller checked hasFreeSlot. */
  take(): RunnerSlot {
    this.inFlight++;
    let released = false;
    return {
      target: this,
      release: () => {
        if (released) return;
        released = true;
        this.inFlight--;
        this.wake();
      },
    };
  }

  /** Resolves when a slot may have freed (or the runner changed state); `signal` drops the wait. */
  waitForChange(signal: AbortSignal, maxMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve();
      };
      const timer = setTimeout(done, maxMs);
      signal.addEventListener('abort', done, { once: true });
      this.waiters.push(done);
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  observe(outcome: Outcome, seconds: number): void {
    this.metrics?.calls.inc({ runner: this.name, outcome });
    this.metrics?.seconds.observe({ runner: this.name }, seconds);
  }

  status(): RunnerStatus {
    return {
      name: this.name,
      address: this.cfg.address,
      state: this.state,
      inFlight: this.inFlight,
      capacity: this.capacity,
      tasks: [...this.tasks],
      detail: this.detail,
    };
  }

  close(): void {
    this.client.close();
  }
}

/** Every configured runner of this pool, by name. */
export class RunnerTargets {
  private readonly targets = new Map<string, RunnerTarget>();

  constructor(opts: RunnerTargetsOptions) {
    const metrics = opts.registry && Object.keys(opts.runners).length > 0 ? new RunnerMetrics(opts.registry, () => this.targets.values()) : undefined;
    for (const [name, cfg] of Object.entries(opts.runners)) this.targets.set(name, new RunnerTarget(name, cfg, opts, metrics));
  }

  get(name: string): RunnerTarget | undefined {
    return this.targets.get(name);
  }

  /** Describes every runner once (at the pool's start, so Health shows them before any task). */
  async refreshAll(): Promise<void> {
    await Promise.all([...this.targets.values()].map((t) => t.refresh()));
  }

  statuses(): RunnerStatus[] {
    return [...this.targets.values()].map((t) => t.status());
  }

  close(): void {
    for (const t of this.targets.values()) t.close();
  }
}

/** A gRPC error as one line: its status name and details. */
export function describeGrpcError(err: grpc.ServiceError): string {
  return `${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`.slice(0, 300);
}
