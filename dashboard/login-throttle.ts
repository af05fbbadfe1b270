/**
 * Failed dashboard logins, counted per client address: after `maxFailures` within a window
 * (which starts at the client's first failure) every request from that address is answered 429
 * with Retry-After until the window ends, correct credentials included, so guessing a token or
 * a password costs the window's length per `maxFailures` tries. The address is the socket's
 * peer: no proxy header is trusted, since any client can write one.
 *
 * Memory is bounded: at most `maxClients` addresses are tracked; a new one past that evicts
 * the windows that have ended, then the oldest.
 */

export interface LoginThrottleOptions {
  /** Failures per window before the client is refused. */
  maxFailures: number;
  /** Length of a client's window, from its first failure. */
  windowMs: number;
  /** Addresses tracked at once. @default 10000 */
  maxClients?: number;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

interface Window {
  failures: number;
  endsAt: number;
}

export class LoginThrottle {
  private readonly clients = new Map<string, Window>();
  private readonly now: () => number;

  constructor(private readonly opts: LoginThrottleOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Whole seconds until `client` may try again; 0 when it may now. */
  retryAfterSeconds(client: string): number {
    const w = this.clients.get(client);
    if (!w) return 0;
    const left = w.endsAt - this.now();
    if (left <= 0) {
      this.clients.delete(client);
      return 0;
    }
    return w.failures >= this.opts.maxFailures ? Math.ceil(left / 1000) : 0;
  }

  /** Counts one failed login of `client`. */
  fail(client: string): void {
    const now = this.now();
    const w = this.clients.get(client);
    if (w && w.endsAt > now) {
      w.failures++;
      return;
    }
    this.clients.delete(client);
    if (this.clients.size >= (this.opts.maxClients ?? 10_000)) this.evict(now);
    this.clients.set(client, { failures: 1, endsAt: now + this.opts.windowMs });
  }

  private evict(now: number): void {
    for (const [client, w] of this.clients) if (w.endsAt <= now) this.clients.delete(client);
    // Still full: drop the oldest window (Map keeps insertion order).
    if (this.clients.size >= (this.opts.maxClients ?? 10_000)) this.clients.delete(this.clients.keys().next().value!);
  }
}
