/**
 * The env-manager: brings the services of a service file up in dependency order (independent
 * ones side by side, each waited for until healthy before its dependents start), stops them in
 * reverse order, and watches what it brought up, restarting a service that exits or turns
 * unhealthy per its restart policy, with exponential backoff and jitter. Every change is an
 * event. Operations on one service never overlap (a lock per service), so the watcher and a
 * StopServices cannot fight over a container.
 */
import { EventEmitter } from 'node:events';
import type { DockerClient } from '../docker/docker-client.js';
import { dockerMessage, dockerStatus } from '../docker/docker-client.js';
import type { Logger } from '../logging/logger.js';
import { OrchestratorError } from '../errors/errors.js';
import { runHealthCheck, type HealthResult } from './health-check.js';
import { createOptions, definitionHash, findContainer, LABEL_HASH, logTail } from './service-container.js';
import type { ServiceDefinition, ServiceFile } from './service-file.js';

export type ServiceState = 'absent' | 'starting' | 'healthy' | 'unhealthy' | 'exited';

export interface ServiceStatusView {
  name: string;
  state: ServiceState;
  image: string;
  containerId: string;
  dependsOn: string[];
  restarts: number;
  healthOutput: string;
  startedAtMs: number;
  exitCode: number;
}

export interface ServiceEventRecord {
  service: string;
  type: 'created' | 'started' | 'healthy' | 'unhealthy' | 'exited' | 'restarting' | 'stopped' | 'removed' | 'recreated' | 'unchanged' | 'failed';
  detail: string;
  atMs: number;
}

/** What the watcher and the metrics know of a service beyond its container. */
interface Tracked {
  health: 'starting' | 'healthy' | 'unhealthy';
  output: string;
  restarts: number;
  failuresInRow: number;
  checks: number;
  checkFailures: number;
  checkLatencyMsSum: number;
  watching: boolean;
  startedAtMs: number;
  timer?: NodeJS.Timeout;
  lock: Promise<unknown>;
}

export interface EnvManagerOptions {
  docker: DockerClient;
  file: ServiceFile;
  logger: Logger;
  /** Cap of the backoff between restarts and between start-up health checks. @default 30000 */
  maxBackoffMs?: number;
}

export class EnvManager {
  private readonly events = new EventEmitter();
  private readonly tracked = new Map<string, Tracked>();
  private readonly byName: ReadonlyMap<string, ServiceDefinition>;
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly opts: EnvManagerOptions) {
    this.byName = new Map(opts.file.services.map((s) => [s.name, s]));
    this.log = opts.logger.child({ component: 'env-manager' });
    this.events.setMaxListeners(0);
    for (const s of opts.file.services) {
      this.tracked.set(s.name, {
        health: 'starting',
        output: '',
        restarts: 0,
        failuresInRow: 0,
        checks: 0,
        checkFailures: 0,
        checkLatencyMsSum: 0,
        watching: false,
        startedAtMs: 0,
        lock: Promise.resolve(),
      });
    }
  }

  get services(): readonly ServiceDefinition[] {
    return this.opts.file.services;
  }

  private get project(): string {
    return this.opts.file.settings.project;
  }

  /** Calls `listener` with every event from now on; returns the unsubscribe function. */
  subscribe(listener: (e: ServiceEventRecord) => void): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }

  /** Calls `listener` with the outcome of every health check from now on (for metrics); returns the unsubscribe function. */
  onHealthCheck(listener: (service: string, result: HealthResult) => void): () => void {
    this.events.on('check', listener);
    return () => this.events.off('check', listener);
  }

  private emit(service: string, type: ServiceEventRecord['type'], detail = ''): void {
    const e: ServiceEventRecord = { service, type, detail, atMs: Date.now() };
    this.log.info({ service, event: type, detail: detail.slice(0, 300) }, 'service event');
    this.events.emit('event', e);
  }

  private def(name: string): ServiceDefinition {
    const d = this.byName.get(name);
    if (!d) throw new OrchestratorError('not_found', `name: no service "${name}" (known: ${[...this.byName.keys()].join(', ')})`, { field: 'name' });
    return d;
  }

  private t(name: string): Tracked {
    return this.tracked.get(name)!;
  }

  /** Runs `fn` when no other operation on the service is running. */
  private exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t = this.t(name);
    const next = t.lock.then(fn, fn);
    t.lock = next.catch(() => undefined);
    return next;
  }

  /** `names` and everything they depend on (all services when empty), in dependency order. */
  private withDependencies(names: string[]): ServiceDefinition[] {
    if (names.length === 0) return [...this.services];
    const want = new Set<string>();
    const add = (n: string) => {
      if (want.has(n)) return;
      want.add(n);
      this.def(n).depends_on.forEach(add);
    };
    names.forEach(add);
    return this.services.filter((s) => want.has(s.name));
  }

  /** `names` and everything depending on them (all when empty), dependents first. */
  private withDependents(names: string[]): ServiceDefinition[] {
    const want = new Set<string>(names.length ? names.map((n) => this.def(n).name) : this.services.map((s) => s.name));
    for (const s of this.services) if (s.depends_on.some((d) => want.has(d))) want.add(s.name);
    return this.services.filter((s) => want.has(s.name)).reverse();
  }

  /**
   * StartServices. Throws failed_precondition naming the first service that did not get healthy,
   * with its last health output; what this call started is then kept or removed per
   * settings.onStartFailure.
   */
  async up(names: string[] = []): Promise<ServiceStatusView[]> {
    const list = this.withDependencies(names);
    const created: string[] = [];
    const done = new Map<string, Promise<void>>();
    for (const s of list) {
      done.set(
        s.name,
        (async () => {
          await Promise.all(s.depends_on.map((d) => done.get(d)));
          await this.exclusive(s.name, () => this.ensure(s, created));
        })(),
      );
    }
    const outcomes = await Promise.allSettled(done.values());
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) {
      if (this.opts.file.settings.onStartFailure === 'rollback') await this.down(created.filter((n) => list.some((s) => s.name === n)).reverse(), false);
      throw failed.reason;
    }
    return Promise.all(list.map((s) => this.status(s.name)));
  }

  /** Brings one service to healthy: leaves it, starts it, creates it or recreates it. */
  private async ensure(s: ServiceDefinition, created: string[]): Promise<void> {
    const { docker } = this.opts;
    const hash = definitionHash(s);
    const existing = await findContainer(docker, this.project, s.name);
    if (existing && existing.Labels[LABEL_HASH] !== hash) {
      await this.removeContainer(existing.Id);
      this.emit(s.name, 'recreated', 'its definition changed');
    } else if (existing && existing.State === 'running') {
      const check = await this.check(s, existing.Id);
      if (check.ok) {
        this.t(s.name).health = 'healthy';
        this.emit(s.name, 'unchanged', check.output);
        this.watch(s);
        return;
      }
      await this.waitHealthy(s, existing.Id);
      this.watch(s);
      return;
    } else if (existing) {
      await this.startContainer(s, existing.Id);
      await this.waitHealthy(s, existing.Id);
      this.watch(s);
      return;
    }
    let id: string;
    try {
      id = (await docker.api.createContainer(createOptions(this.project, s))).id;
    } catch (err) {
      const why = dockerStatus(err) === 404 ? `image ${s.image} is not on the engine` : dockerMessage(err);
      this.emit(s.name, 'failed', why);
      throw new OrchestratorError('failed_precondition', `service ${s.name}: ${why}`);
    }
    created.push(s.name);
    this.emit(s.name, 'created', id.slice(0, 12));
    await this.startContainer(s, id);
    await this.waitHealthy(s, id);
    this.watch(s);
  }

  private async startContainer(s: ServiceDefinition, id: string): Promise<void> {
    const t = this.t(s.name);
    t.health = 'starting';
    await this.opts.docker.api.getContainer(id).start();
    t.failuresInRow = 0;
    t.startedAtMs = Date.now();
    this.emit(s.name, 'started', id.slice(0, 12));
  }

  private backoff(attempt: number, baseMs: number): number {
    const raw = Math.min(this.opts.maxBackoffMs ?? 30_000, baseMs * 2 ** attempt);
    return Math.round(raw * (0.8 + Math.random() * 0.4));
  }

  private async check(s: ServiceDefinition, id: string): Promise<HealthResult> {
    const r = await runHealthCheck(this.opts.docker, id, s.healthcheck);
    const t = this.t(s.name);
    t.checks += 1;
    t.checkLatencyMsSum += r.latencyMs;
    if (!r.ok) t.checkFailures += 1;
    t.output = r.output;
    this.events.emit('check', s.name, r);
    return r;
  }

  /** Checks until healthy, backing off between tries; fails after the service's startTimeout. */
  private async waitHealthy(s: ServiceDefinition, id: string): Promise<void> {
    const deadline = Date.now() + s.startTimeout;
    const base = Math.max(50, Math.min(s.healthcheck.interval, 1_000));
    for (let attempt = 0; ; attempt++) {
      const info = await this.opts.docker.api.getContainer(id).inspect();
      if (!info.State.Running) {
        const logs = await logTail(this.opts.docker, id);
        this.emit(s.name, 'failed', `exited with ${info.State.ExitCode} before it was healthy${logs ? `: ${logs}` : ''}`);
        throw new OrchestratorError(
          'failed_precondition',
          `service ${s.name} exited with ${info.State.ExitCode} before it was healthy${logs ? `; its output: ${logs}` : ''}`,
        );
      }
      const r = await this.check(s, id);
      if (r.ok) {
        this.t(s.name).health = 'healthy';
        this.emit(s.name, 'healthy', r.output);
        return;
      }
      const wait = this.backoff(attempt, base);
      if (this.closed || Date.now() + wait > deadline) {
        this.emit(s.name, 'failed', `not healthy within ${s.startTimeout} ms: ${r.output}`);
        throw new OrchestratorError('failed_precondition', `service ${s.name} did not get healthy within ${s.startTimeout} ms; last health check: ${r.output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** Starts the watcher of a service (once). */
  private watch(s: ServiceDefinition): void {
    const t = this.t(s.name);
    if (t.watching || this.closed) return;
    t.watching = true;
    const tick = () => {
      if (!t.watching || this.closed) return;
      void this.exclusive(s.name, () => this.watchOnce(s))
        .catch((err: unknown) => this.log.warn({ err, service: s.name }, 'watching a service failed'))
        .finally(() => {
          if (t.watching && !this.closed) t.timer = setTimeout(tick, s.healthcheck.interval);
        });
    };
    t.timer = setTimeout(tick, s.healthcheck.interval);
  }

  private unwatch(name: string): void {
    const t = this.t(name);
    t.watching = false;
    clearTimeout(t.timer);
  }

  /** One look at a watched service: restart it when it exited or stayed unhealthy. */
  private async watchOnce(s: ServiceDefinition): Promise<void> {
    const t = this.t(s.name);
    if (!t.watching) return;
    const c = await findContainer(this.opts.docker, this.project, s.name);
    if (!c) {
      t.failuresInRow = 0;
      this.emit(s.name, 'exited', 'its container is gone');
      return this.restart(s, 'its container is gone');
    }
    const info = await this.opts.docker.api.getContainer(c.Id).inspect();
    if (!info.State.Running) {
      const code = info.State.ExitCode;
      this.emit(s.name, 'exited', `exit code ${code}`);
      if (s.restart === 'always' || (s.restart === 'on-failure' && code !== 0)) return this.restart(s, `exited with ${code}`);
      this.unwatch(s.name);
      return;
    }
    if (Date.now() - t.startedAtMs < s.healthcheck.startPeriod) return;
    const r = await this.check(s, c.Id);
    if (r.ok) {
      t.failuresInRow = 0;
      if (t.health !== 'healthy') this.emit(s.name, 'healthy', r.output);
      t.health = 'healthy';
      return;
    }
    t.failuresInRow += 1;
    if (t.failuresInRow < s.healthcheck.retries) return;
    if (t.health !== 'unhealthy') this.emit(s.name, 'unhealthy', r.output);
    t.health = 'unhealthy';
    if (s.restart !== 'no') await this.restart(s, `unhealthy: ${r.output}`);
  }

  /** The watcher's restart: backoff, then a fresh container, then wait until healthy. */
  private async restart(s: ServiceDefinition, why: string): Promise<void> {
    const t = this.t(s.name);
    if (t.restarts >= s.maxRestarts) {
      this.emit(s.name, 'failed', `gave up after ${t.restarts} restarts: ${why}`);
      this.unwatch(s.name);
      return;
    }
    const wait = this.backoff(t.restarts, 1_000);
    t.restarts += 1;
    t.health = 'starting';
    this.emit(s.name, 'restarting', `${why}; restart ${t.restarts} in ${wait} ms`);
    await new Promise((resolve) => setTimeout(resolve, wait));
    if (!t.watching || this.closed) return;
    const existing = await findContainer(this.opts.docker, this.project, s.name);
    if (existing) await this.removeContainer(existing.Id);
    const id = (await this.opts.docker.api.createContainer(createOptions(this.project, s))).id;
    await this.startContainer(s, id);
    try {
      await this.waitHealthy(s, id);
    } catch (err) {
      // The next look restarts it again, with a longer backoff.
      this.log.warn({ service: s.name, err: (err as Error).message }, 'restarted service is not healthy');
    }
  }

  private async removeContainer(id: string, graceMs = this.opts.file.settings.stopGrace): Promise<void> {
    try {
      await this.opts.docker.api.getContainer(id).stop({ t: Math.ceil(graceMs / 1000) });
    } catch (err) {
      // 304: already stopped; 404: already gone.
      if (dockerStatus(err) !== 304 && dockerStatus(err) !== 404) throw err;
    }
    await this.opts.docker.remove(id);
  }

  /** StopServices: dependents first, each stopped with the grace period and removed. */
  async down(names: string[] = [], withDependents = true): Promise<ServiceStatusView[]> {
    const list = withDependents ? this.withDependents(names) : names.map((n) => this.def(n));
    for (const s of list) await this.stopOne(s.name);
    return Promise.all(list.map((s) => this.status(s.name)));
  }

  /** Stops watching one service, then stops and removes its container. */
  private async stopOne(name: string): Promise<void> {
    this.unwatch(name);
    await this.exclusive(name, async () => {
      const c = await findContainer(this.opts.docker, this.project, name);
      if (!c) return;
      await this.removeContainer(c.Id);
      this.t(name).health = 'starting';
      this.emit(name, 'stopped', c.Id.slice(0, 12));
      this.emit(name, 'removed', c.Id.slice(0, 12));
    });
  }

  /** RestartService: a fresh container, waited for until healthy. */
  async restartService(name: string): Promise<ServiceStatusView> {
    this.def(name);
    await this.stopOne(name);
    this.emit(name, 'restarting', 'requested');
    await this.up([name]);
    return this.status(name);
  }

  async status(name: string): Promise<ServiceStatusView> {
    const s = this.def(name);
    const t = this.t(name);
    const c = await findContainer(this.opts.docker, this.project, name);
    const view: ServiceStatusView = {
      name,
      state: 'absent',
      image: s.image,
      containerId: c?.Id ?? '',
      dependsOn: s.depends_on,
      restarts: t.restarts,
      healthOutput: t.output,
      startedAtMs: 0,
      exitCode: 0,
    };
    if (!c) return view;
    const info = await this.opts.docker.api.getContainer(c.Id).inspect();
    view.startedAtMs = Date.parse(info.State.StartedAt) || 0;
    view.exitCode = info.State.ExitCode;
    view.state = !info.State.Running ? 'exited' : t.health;
    return view;
  }

  /** The last `lines` lines of a service's output; empty when it has no container. */
  async logs(name: string, lines: number): Promise<string> {
    this.def(name);
    const c = await findContainer(this.opts.docker, this.project, name);
    return c ? logTail(this.opts.docker, c.Id, lines) : '';
  }

  list(): Promise<ServiceStatusView[]> {
    return Promise.all(this.services.map((s) => this.status(s.name)));
  }

  /** Per-service figures for /metrics. */
  figures(): { name: string; restarts: number; checks: number; checkFailures: number; checkLatencyMsSum: number; healthy: boolean }[] {
    return this.services.map((s) => {
      const t = this.t(s.name);
      return {
        name: s.name,
        restarts: t.restarts,
        checks: t.checks,
        checkFailures: t.checkFailures,
        checkLatencyMsSum: t.checkLatencyMsSum,
        healthy: t.health === 'healthy',
      };
    });
  }

  /** Stops watching; with `stopServices`, stops and removes every service too. */
  async close(stopServices = false): Promise<void> {
    for (const s of this.services) this.unwatch(s.name);
    if (stopServices) await this.down([]);
    this.closed = true;
    await Promise.all(this.services.map((s) => this.t(s.name).lock));
  }
}
