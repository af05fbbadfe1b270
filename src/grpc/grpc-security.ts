/**
 * What guards a gRPC server, from its config section (`grpc`, or `envManager` for the
 * env-manager; both have the same `auth` and `tls` keys): bearer tokens (auth-interceptor.ts)
 * and transport credentials (server-credentials.ts). Resolved once, before anything listens, so
 * a bad tokens or certificate file stops start-up with its name.
 */
import type { ServerCredentials, ServerInterceptor } from '@grpc/grpc-js';
import { configuredTokens, TokenSet } from '../auth/token-set.js';
import type { Logger } from '../logging/logger.js';
import { authInterceptor } from './auth-interceptor.js';
import { serverCredentials, type GrpcTlsOptions } from './server-credentials.js';

export interface GrpcSecurityConfig {
  auth: { tokens: readonly string[]; tokensFile: string };
  tls: GrpcTlsOptions;
}

export interface GrpcSecurity {
  credentials: ServerCredentials;
  /** The auth interceptor when tokens are configured; none otherwise. */
  interceptors: ServerInterceptor[];
  /** For the start-up log line: how many tokens, and which TLS. */
  summary: { tokens: number; tls: 'off' | 'server' | 'mutual' };
}

export function grpcSecurity(config: GrpcSecurityConfig, logger: Logger): GrpcSecurity {
  const tokens = new TokenSet(configuredTokens(config.auth).map((t) => [t, true]));
  const { tls } = config;
  return {
    credentials: serverCredentials(tls),
    interceptors: tokens.size ? [authInterceptor({ tokens, logger })] : [],
    summary: { tokens: tokens.size, tls: tls.certFile ? (tls.requireClientCert ? 'mutual' : 'server') : 'off' },
  };
}
