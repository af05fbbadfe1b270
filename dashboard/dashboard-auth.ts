/**
 * Who may use the dashboard: users with a password (HTTP basic auth, which browsers prompt for)
 * and bearer tokens, each with a role. `admin` may act on jobs; `read_only` may look: every
 * request that is not a GET or HEAD under the Bull Board API is refused with 403 for it (the
 * API is where a retry, clean, promote or add lands, whatever the UI shows), and its Bull Board
 * view is built in readOnlyMode so those buttons are not offered either. Credentials are
 * compared in constant time (src/auth/token-set.ts) and never logged.
 */
import type { NextFunction, Request, Response } from 'express';
import { bearerToken, TokenSet } from '../src/auth/token-set.js';

export type DashboardRole = 'admin' | 'read_only';

export interface DashboardCredentials {
  users: readonly { name: string; password: string; role: DashboardRole }[];
  tokens: readonly { token: string; role: DashboardRole }[];
}

export interface DashboardAuthOptions {
  credentials: DashboardCredentials;
  /**
   * With no credentials configured, everyone is admin: only allowed on a loopback address, which
   * the config loader enforces.
   */
  realm?: string;
}

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

export class DashboardAuth {
  private readonly users: TokenSet<DashboardRole>;
  private readonly tokens: TokenSet<DashboardRole>;
  private readonly open: boolean;

  constructor(private readonly opts: DashboardAuthOptions) {
    const { users, tokens } = opts.credentials;
    // "name:password" as one secret: a wrong name and a wrong password take the same path.
    this.users = new TokenSet(users.map((u) => [`${u.name}:${u.password}`, u.role]));
    this.tokens = new TokenSet(tokens.map((t) => [t.token, t.role]));
    this.open = users.length === 0 && tokens.length === 0;
  }

  /** The role the Authorization header grants, or undefined. */
  authenticate(header: string | undefined): DashboardRole | undefined {
    if (this.open) return 'admin';
    const token = bearerToken(header);
    if (token !== undefined) return this.tokens.match(token);
    const basic = basicCredentials(header);
    return basic === undefined ? undefined : this.users.match(basic);
  }

  /** Express middleware: 401 without valid credentials; sets the role for what follows. */
  readonly middleware = (req: Request, res: Response, next: NextFunction): void => {
    const role = this.authenticate(req.headers.authorization);
    if (role === undefined) {
      res
        .status(401)
        .set('WWW-Authenticate', `Basic realm="${this.opts.realm ?? 'Orchestrator'}", charset="UTF-8"`)
        .type('text/plain')
        .send('authentication required\n');
      return;
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
