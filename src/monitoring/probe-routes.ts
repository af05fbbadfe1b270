/**
 * The operator's HTTP routes, as plain functions returning {status, body}: `/metrics`
 * (Prometheus text), `/health` (the process is up) and `/ready` (what the process depends on
 * answers: Redis PING, or for the env-manager the Docker engine). The orchestrator's Express app,
 * a pool's own listener and the env-manager's only map requests onto them.
 */
import type { Registry } from 'prom-client';

export interface RouteResult {
  status: number;
  contentType: string;
  body: string;
}

export interface ProbeRoutesOptions {
  registry: Registry;
  /** Resolves when the dependency answers (Redis PING); rejects (or hangs past the timeout) when it does not. */
  ping(): Promise<unknown>;
  /** The dependency's name, for /ready's message. @default "redis" */
  dependency?: string;
  /** How long /ready waits for the PING. @default 2000 */
  readyTimeoutMs?: number;
}

const text = (status: number, body: string): RouteResult => ({ status, contentType: 'text/plain; charset=utf-8', body });

export class ProbeRoutes {
  constructor(private readonly opts: ProbeRoutesOptions) {}

  async metrics(): Promise<RouteResult> {
    try {
      return { status: 200, contentType: this.opts.registry.contentType, body: await this.opts.registry.metrics() };
    } catch (err) {
      // The cluster figures come from Redis: without it, say so rather than serve half a page.
      return text(503, `metrics unavailable: ${(err as Error).message}\n`);
    }
  }

  health(): RouteResult {
    return text(200, 'ok\n');
  }

  async ready(): Promise<RouteResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.opts.dependency ?? 'redis'} did not answer in time`)), this.opts.readyTimeoutMs ?? 2_000);
    });
    try {
      await Promise.race([this.opts.ping(), timeout]);
      return text(200, 'ready\n');
    } catch (err) {
      return text(503, `not ready: ${(err as Error).message}\n`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The route for a GET of `path`, or undefined. */
  route(path: string): (() => RouteResult | Promise<RouteResult>) | undefined {
    if (path === '/metrics') return () => this.metrics();
    if (path === '/health') return () => this.health();
    if (path === '/ready') return () => this.ready();
    return undefined;
  }
}
