/**
 * What guards a gRPC server, from its config section (`grpc`, or `envManager` for the
 * env-manager; both have the same `auth`, `tls` and `allowUnauthenticated` keys): bearer tokens
 * with roles (auth-interceptor.ts) and transport credentials (server-credentials.ts). Resolved
 * once, before anything listens, so a bad tokens or certificate file stops start-up with its name.
 *
 * Exposure rule: a server on an address other than loopback needs credentials (a token, or
 * mutual TLS with requireClientCert). Without them start-up is refused naming the setting,
 * unless the section says `allowUnauthenticated = true`, which is warned about at every start.
 */
import type { ServerCredentials, ServerInterceptor } from '@grpc/grpc-js';
import type { Grant } from '../auth/roles.js';
import { configuredTokens, TokenSet, TokenSetError, type TokenEntry } from '../auth/token-set.js';
import { ConfigError } from '../config/config.js';
import { isLoopback, splitHostPort } from '../config/listen-address.js';
import type { Logger } from '../logging/logger.js';
import { authInterceptor, callerOfToken, type CallPolicy } from './auth-interceptor.js';
import { serverCredentials, type GrpcTlsOptions } from './server-credentials.js';

export interface GrpcSecurityConfig<R extends string = string> {
  auth: { tokens: readonly TokenEntry<R>[]; tokensFile: string };
  tls: GrpcTlsOptions;
  allowUnauthenticated: boolean;
}

export interface GrpcSecurityOptions<R extends string = string> {
  /** The config section, for messages: "grpc" or "envManager". */
  section: string;
  /** The key of the listen address ("grpc.addr", "envManager.grpcAddr") and its value. */
  addrKey: string;
  addr: string;
  /** The roles a token of this server may have (src/auth/roles.ts). */
  roles: readonly R[];
  /** The configured task classes, when tokens may be limited to some (the orchestrator's). */
  taskClasses?: Iterable<string>;
}

export interface GrpcSecurity {
  credentials: ServerCredentials;
  /** The auth interceptor for a service's policy when tokens are configured; none otherwise. */
  interceptors(policy: CallPolicy): ServerInterceptor[];
  /** For the start-up log line: how many tokens, which TLS, whether calls need no credential. */
  summary: { tokens: number; tls: 'off' | 'server' | 'mutual'; unauthenticated: boolean };
  /** The tokens' own submit rates (config or tokens file), by the caller name the auth interceptor gives them. */
  submitRateLimits: ReadonlyMap<string, { perSecond: number; burst: number }>;
}

function grantsOf<R extends string>(config: GrpcSecurityConfig<R>, opts: GrpcSecurityOptions<R>): TokenEntry<R>[] {
  let entries: TokenEntry<R>[];
  try {
    entries = configuredTokens(config.auth, { roles: opts.roles, classes: opts.taskClasses !== undefined });
  } catch (err) {
    if (err instanceof TokenSetError) throw new ConfigError(`config key ${opts.section}.auth.tokensFile: ${err.message}`);
    throw err;
  }
  if (opts.taskClasses) {
    const known = new Set(opts.taskClasses);
    for (const e of entries) {
      const unknown = e.classes?.find((c) => !known.has(c));
      // The file's classes are checked here (config's in loadConfig): a typo must not pass as "no class".
      if (unknown !== undefined) throw new ConfigError(`config key ${opts.section}.auth.tokensFile: unknown task class "${unknown}"`);
    }
  }
  return entries;
}

export function grpcSecurity<R extends string>(config: GrpcSecurityConfig<R>, opts: GrpcSecurityOptions<R>, logger: Logger): GrpcSecurity {
  const entries = grantsOf(config, opts);
  const tokens = new TokenSet<Grant>(entries.map((e) => [e.token, { role: e.role, ...(e.classes ? { classes: new Set(e.classes) } : {}) }]));
  const { tls } = config;
  const unauthenticated = tokens.size === 0 && !tls.requireClientCert;
  if (unauthenticated && !isLoopback(splitHostPort(opts.addr).host)) {
    if (!config.allowUnauthenticated) {
      throw new ConfigError(
        `config key ${opts.addrKey}: ${opts.addr} is not a loopback address and ${opts.section} has no credentials; ` +
          `set ${opts.section}.auth.tokens or ${opts.section}.auth.tokensFile, or mutual TLS (${opts.section}.tls.requireClientCert), ` +
          `or ${opts.section}.allowUnauthenticated = true for a trusted network`,
      );
    }
    logger.warn(
      { component: 'grpc-security', server: opts.section, addr: opts.addr },
      `${opts.section}.allowUnauthenticated: gRPC on ${opts.addr} takes calls without credentials; anyone who reaches it may call every method`,
    );
  }
  return {
    credentials: serverCredentials(tls),
    interceptors: (policy) => (tokens.size ? [authInterceptor({ tokens, policy, logger })] : []),
    summary: { tokens: tokens.size, tls: tls.certFile ? (tls.requireClientCert ? 'mutual' : 'server') : 'off', unauthenticated },
    submitRateLimits: new Map(entries.flatMap((e) => (e.submitRateLimit ? [[callerOfToken(e.token), e.submitRateLimit] as const] : []))),
  };
}
