/**
 * Bearer-token authentication for gRPC, as a server interceptor: a call whose `authorization`
 * metadata does not carry a known token ends UNAUTHENTICATED before any handler runs. The
 * standard health service stays open so load balancers and grpc_health_probe need no token.
 * Refusals are logged with the method and peer only: a token never reaches a log.
 */
import { ResponderBuilder, ServerInterceptingCall, ServerListenerBuilder, status, type ServerInterceptor } from '@grpc/grpc-js';
import { bearerToken, type TokenSet } from '../auth/token-set.js';
import type { Logger } from '../logging/logger.js';

/** Paths anyone may call. */
const OPEN_PREFIXES = ['/grpc.health.v1.Health/'];

export interface AuthInterceptorOptions {
  tokens: TokenSet<unknown>;
  logger: Logger;
}

export function authInterceptor(opts: AuthInterceptorOptions): ServerInterceptor {
  const log = opts.logger.child({ component: 'grpc-auth' });
  return (method, call) => {
    if (OPEN_PREFIXES.some((p) => method.path.startsWith(p))) return new ServerInterceptingCall(call);
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const values = metadata.get('authorization');
        const token = values.length === 1 ? bearerToken(String(values[0])) : undefined;
        if (token !== undefined && opts.tokens.match(token) !== undefined) {
          // Handlers never see the credential.
          metadata.remove('authorization');
          next(metadata);
          return;
        }
        log.info({ method: method.path, peer: call.getPeer(), presented: token !== undefined }, 'call refused: no valid bearer token');
        call.sendStatus({ code: status.UNAUTHENTICATED, details: 'a valid bearer token is required (metadata "authorization: Bearer <token>")' });
      })
      .build();
    return new ServerInterceptingCall(call, new ResponderBuilder().withStart((next) => next(listener)).build());
  };
}
