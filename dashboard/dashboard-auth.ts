/**
 * Who may use the dashboard: users with a password (HTTP basic auth, which browsers prompt for)
 * and bearer tokens, each with a role; with neither configured, the generated admin token
 * (generated-token.ts). Nobody is let in without credentials, on loopback either.
 *
 * A browser logs in once with `?token=<token>` on any /admin URL: the answer sets an HttpOnly,
 * SameSite=Strict session cookie (Secure under TLS) and redirects to the same URL without the
 * token, so it does not linger in the address bar. The cookie holds its expiry and an HMAC of
 * that expiry keyed by the token, not the token: it works on every process that knows the token
 * (no session store), ends after `sessionMaxAgeMs` whatever the browser does, and a leaked
 * cookie reveals neither the token nor a way to extend itself.
 *
 * Failed logins (a wrong token, password or cookie) are counted per client address
 * (login-throttle.ts). A mutating request (not GET, HEAD or OPTIONS) from another site is
 * refused with 403, and one whose site is unknown (no Origin, no Sec-Fetch-Site) is let through
 * only on an Authorization header, never on the cookie alone (origin-check.ts).
 *
 * `admin` may act on jobs; `read_only` may look: every request that is not a GET or HEAD under
 * the Bull Board API or the pages' API (/admin/api) is refused with 403 for it (the API is where a retry, clean, promote or add
 * lands, whatever the UI shows), and its Bull Board view is built in readOnlyMode so those
 * buttons are not offered either. Credentials are compared in constant time
 * (src/auth/token-set.ts) and never logged.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { bearerToken, TokenSet } from '../src/auth/token-set.js';
import type { LoginThrottle } from './login-throttle.js';
import { isMutating, requestSite } from './origin-check.js';

export type DashboardRole = 'admin' | 'read_only';

export interface DashboardCredentials {
  users: readonly { name: string; password: string; role: DashboardRole }[];
  tokens: readonly { token: string; role: DashboardRole }[];
}

export interface DashboardAuthOptions {
  /** Must hold at least one user or token: there is no open mode. */
  credentials: DashboardCredentials;
  throttle: LoginThrottle;
  /** How the server is reached: the session cookie is Secure under https. */
  scheme: 'http' | 'https';
  /** http.publicNames, for the Origin check. */
  publicNames: readonly string[];
  /** How long a ?token= login lasts. @default 12 hours */
  sessionMaxAgeMs?: number;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
  /** Where the cookie applies. @default "/admin" */
  cookiePath?: string;
  realm?: string;
}

export const SESSION_COOKIE = 'orq_dashboard';

/** The role of the request, set by the middleware. */
export function roleOf(res: Response): DashboardRole {
  return res.locals.role as DashboardRole;
}

/** Basic auth's user and password, or undefined. */
function basicCredentials(header: string | undefined): string | undefined {
  const m = /^Basic[ ]+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  return decoded.includes(':') ? decoded : undefined;
}

/** The MAC of a session ending at `expires` (seconds since the epoch), keyed by the token. */
const sessionMac = (token: string, expires: number): Buffer => createHmac('sha256', token).update(`orq-dashboard-session/v1/${expires}`).digest();

/** The session cookie's value: "v1.<expires>.<mac>". */
const sessionOf = (token: string, expires: number): string => `v1.${expires}.${sessionMac(token, expires).toString('base64url')}`;

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export class DashboardAuth {
  private readonly users: TokenSet<DashboardRole>;
  private readonly tokens: TokenSet<DashboardRole>;
  private readonly now: () => number;
  private readonly sessionMaxAgeMs: number;
  private readonly cookiePath: string;

  constructor(private readonly opts: DashboardAuthOptions) {
    const { users, tokens } = opts.credentials;
    if (users.length === 0 && tokens.length === 0) throw new Error('DashboardAuth needs at least one user or token');
    // "name:password" as one secret: a wrong name and a wrong password take the same path.
    this.users = new TokenSet(users.map((u) => [`${u.name}:${u.password}`, u.role]));
    this.tokens = new TokenSet(tokens.map((t) => [t.token, t.role]));
    this.now = opts.now ?? Date.now;
    this.sessionMaxAgeMs = opts.sessionMaxAgeMs ?? 12 * 3_600_000;
    this.cookiePath = opts.cookiePath ?? '/admin';
  }

  /** The role the Authorization header grants, or undefined. */
  authenticate(header: string | undefined): DashboardRole | undefined {
    const token = bearerToken(header);
    if (token !== undefined) return this.tokens.match(token);
    const basic = basicCredentials(header);
    return basic === undefined ? undefined : this.users.match(basic);
  }

  /** The role of a live session cookie value, or undefined. Every token is tried, in constant time each. */
  private session(value: string): DashboardRole | undefined {
    const m = /^v1\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value);
    if (!m || Number(m[1]) * 1000 <= this.now()) return undefined;
    const expires = Number(m[1]);
    const presented = Buffer.from(m[2]!, 'base64url');
    let found: DashboardRole | undefined;
    for (const t of this.opts.credentials.tokens) {
      if (timingSafeEqual(sessionMac(t.token, expires), presented) && found === undefined) found = t.role;
    }
    return found;
  }

  private cookie(value: string, maxAgeSeconds?: number): string {
    const attrs = [`${SESSION_COOKIE}=${value}`, `Path=${this.cookiePath}`, 'HttpOnly', 'SameSite=Strict'];
    if (this.opts.scheme === 'https') attrs.push('Secure');
    if (maxAgeSeconds !== undefined) attrs.push(`Max-Age=${maxAgeSeconds}`);
    return attrs.join('; ');
  }

  private refuse(res: Response, client: string | undefined, clearCookie = false): void {
    if (client !== undefined) this.opts.throttle.fail(client);
    if (clearCookie) res.append('Set-Cookie', this.cookie('', 0));
    // Only users can answer a basic-auth prompt; with tokens alone it would only confuse.
    if (this.opts.credentials.users.length > 0) res.set('WWW-Authenticate', `Basic realm="${this.opts.realm ?? 'Orchestrator'}", charset="UTF-8"`);
    res
      .status(401)
      .type('text/plain')
      .send('authentication required: basic auth, Authorization: Bearer <token>, or open /admin/?token=<token> once to log in\n');
  }

  /**
   * Express middleware: 429 while the client is throttled; logs a `?token=` in; 401 without
   * valid credentials; 403 for a mutating request from another site; sets the role for what
   * follows.
   */
  readonly middleware = (req: Request, res: Response, next: NextFunction): void => {
    const client = req.socket.remoteAddress ?? 'unknown';
    const wait = this.opts.throttle.retryAfterSeconds(client);
    if (wait > 0) {
      res.status(429).set('Retry-After', String(wait)).type('text/plain').send('too many failed logins from this address; try again later\n');
      return;
    }
    const url = new URL(req.originalUrl, 'http://x');
    const queryToken = url.searchParams.get('token');
    if (queryToken !== null && (req.method === 'GET' || req.method === 'HEAD')) {
      const role = this.tokens.match(queryToken);
      if (role === undefined) return this.refuse(res, client);
      url.searchParams.delete('token');
      const maxAge = Math.floor(this.sessionMaxAgeMs / 1000);
      res.append('Set-Cookie', this.cookie(sessionOf(queryToken, Math.floor(this.now() / 1000) + maxAge), maxAge));
      res.redirect(303, `${url.pathname}${url.search}`);
      return;
    }
    let role: DashboardRole | undefined;
    let byHeader = false;
    if (req.headers.authorization !== undefined) {
      role = this.authenticate(req.headers.authorization);
      if (role === undefined) return this.refuse(res, client);
      byHeader = true;
    } else {
      const session = cookieValue(req.headers.cookie, SESSION_COOKIE);
      if (session === undefined || session === '') return this.refuse(res, undefined);
      role = this.session(session);
      if (role === undefined) return this.refuse(res, client, true);
    }
    if (isMutating(req.method)) {
      const site = requestSite(req.headers, this.opts.scheme, this.opts.publicNames);
      if (site === 'cross' || (site === 'unknown' && !byHeader)) {
        res.status(403).json({ error: 'forbidden: a changing request must come from this dashboard (Origin / Sec-Fetch-Site)' });
        return;
      }
    }
    res.locals.role = role;
    next();
  };

  /** Express middleware: a read-only role may only GET and HEAD. */
  readonly readOnlyGuard = (req: Request, res: Response, next: NextFunction): void => {
    if (roleOf(res) === 'read_only' && req.method !== 'GET' && req.method !== 'HEAD') {
      res.status(403).json({ error: 'forbidden: this user may only look (read-only role)' });
      return;
    }
    next();
  };
}
