/**
 * An HTTP (or, with `tls`, HTTPS) server on a host:port with start() and close(grace): the
 * orchestrator's operator surface (the dashboard app) and a pool's /metrics listener both run
 * on one.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { splitHostPort } from '../config/listen-address.js';

export interface HttpListenerOptions {
  /** host:port ([v6]:port); port 0 picks a free one. */
  addr: string;
  handler: RequestListener;
  /** PEM certificate chain and key: serve HTTPS. @default plain HTTP */
  tls?: { cert: Buffer; key: Buffer };
}

export class HttpListener {
  private readonly server: Server;
  private boundPort = 0;

  constructor(private readonly opts: HttpListenerOptions) {
    this.server = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, opts.handler) : createServer(opts.handler);
  }

  /** "https" when serving TLS, else "http". */
  get scheme(): 'http' | 'https' {
    return this.opts.tls ? 'https' : 'http';
  }

  /** The port actually bound (after start). */
  get port(): number {
    return this.boundPort;
  }

  /** host:port as bound, for logs and heartbeats. */
  get address(): string {
    const { host } = splitHostPort(this.opts.addr);
    return `${host.includes(':') ? `[${host}]` : host}:${this.boundPort}`;
  }

  async start(): Promise<void> {
    const { host, port } = splitHostPort(this.opts.addr);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
  }

  /** Stop accepting connections; requests in flight get `graceMs`, then connections are cut. */
  async close(graceMs = 2_000): Promise<void> {
    if (!this.server.listening) return;
    this.server.closeIdleConnections();
    const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    clearTimeout(timer);
  }
}
