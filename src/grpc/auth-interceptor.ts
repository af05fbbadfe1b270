/**
 * Bearer tokens and their roles, as a server interceptor, before any handler runs:
 *
 * 1. a call whose `authorization` metadata carries no known token ends UNAUTHENTICATED;
 * 2. a call to a method above the token's role (method-roles.ts) ends PERMISSION_DENIED naming
 *    the role needed; a method missing from the table is refused to every token;
 * 3. for a token limited to some task classes, the request message is held until the classes it
 *    reaches (class-reach.ts, which may look ids up in Redis) are known, and the call ends
 *    PERMISSION_DENIED unless every one is the token's.
 *
 * Handlers stay thin: they never see the credential nor check a role. The standard health
 * service stays open so load balancers and grpc_health_probe need no token. Refusals are logged
 * with the method, peer and role only: a token never reaches a log.
 */
import { createHash } from 'node:crypto';
import { ResponderBuilder, ServerInterceptingCall, ServerListenerBuilder, status, type ServerInterceptor } from '@grpc/grpc-js';
import { roleCovers, type Grant } from '../auth/roles.js';
import { bearerToken, type TokenSet } from '../auth/token-set.js';
import type { Logger } from '../logging/logger.js';
import type { ClassReach } from './class-reach.js';
import { toServiceError } from './status.js';
import { UndecodableRequest } from './request-decoding.js';

/**
 * Metadata the interceptor sets on every call it lets through: the caller, as "token:" and a
 * short SHA-256 digest of its token (never the token), for per-caller limits (stream-admission.ts).
 * A value the client sent under this name is replaced.
 */
export const CALLER_METADATA = 'x-orchestrator-caller';

export const callerOfToken = (token: string): string => `token:${createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 16)}`;

/** Paths anyone may call. */
const OPEN_PREFIXES = ['/grpc.health.v1.Health/'];

/** What a server's tokens may call. */
export interface CallPolicy {
  /** The server's roles, lowest first (src/auth/roles.ts). */
  ladder: readonly string[];
  /** Full method path -> lowest role that may call it (method-roles.ts). */
  roles: ReadonlyMap<string, string>;
  /** The task classes a call reaches; asked only for class-limited tokens. Absent: no classes. */
  classReach?: (path: string, request: unknown) => Promise<ClassReach>;
}

export interface AuthInterceptorOptions {
  tokens: TokenSet<Grant>;
  policy: CallPolicy;
  logger: Logger;
}

const methodName = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** Why a token limited to `classes` may not make a call, or undefined when it may. */
function classRefusal(classes: ReadonlySet<string>, reach: ClassReach): string | undefined {
  const allowed = [...classes].join(', ');
  if ('unbounded' in reach) return `this token acts on classes ${allowed} only, and this call cannot be limited to them: ${reach.unbounded}`;
  const other = reach.find((c) => !classes.has(c));
  return other === undefined ? undefined : `this token acts on classes ${allowed} only; the call reaches class "${other}"`;
}

export function authInterceptor(opts: AuthInterceptorOptions): ServerInterceptor {
  const log = opts.logger.child({ component: 'grpc-auth' });
  const { policy } = opts;
  return (method, call) => {
    if (OPEN_PREFIXES.some((p) => method.path.startsWith(p))) return new ServerInterceptingCall(call);
    let grant: Grant | undefined;
    const refuse = (code: status, details: string, fields: Record<string, unknown>) => {
      log.info({ method: method.path, peer: call.getPeer(), ...fields }, 'call refused');
      call.sendStatus({ code, details });
    };
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const values = metadata.get('authorization');
        const token = values.length === 1 ? bearerToken(String(values[0])) : undefined;
        grant = token === undefined ? undefined : opts.tokens.match(token);
        if (grant === undefined) {
          refuse(status.UNAUTHENTICATED, 'a valid bearer token is required (metadata "authorization: Bearer <token>")', { presented: token !== undefined });
          return;
        }
        const needed = policy.roles.get(method.path);
        if (needed === undefined || !roleCovers(policy.ladder, grant.role, needed)) {
          const why =
            needed === undefined ? `${methodName(method.path)} is not open to any token role` : `${methodName(method.path)} needs role "${needed}" or above`;
          refuse(status.PERMISSION_DENIED, `${why}; this token has role "${grant.role}"`, { role: grant.role, needed });
          return;
        }
        // Handlers never see the credential; per-caller limits see its digest.
        metadata.remove('authorization');
        metadata.set(CALLER_METADATA, callerOfToken(token!));
        next(metadata);
      })
      .withOnReceiveMessage((message, next) => {
        const limited = grant?.classes;
        // A request that did not decode reaches no class: its handler answers INVALID_ARGUMENT.
        if (!limited || message instanceof UndecodableRequest) {
          next(message);
          return;
        }
        const role = grant!.role;
        // The message waits here (grpc-js holds the half-close meanwhile) until the lookups end.
        // Started inside a promise, and caught last: a lookup that throws, even synchronously, ends
        // this call with a status; nothing of it becomes an unhandled rejection (the process's end).
        Promise.resolve()
          .then(() => (policy.classReach ? policy.classReach(method.path, message) : []))
          .then(
            (reach) => {
              const why = classRefusal(limited, reach);
              if (why === undefined) next(message);
              else refuse(status.PERMISSION_DENIED, why, { role, classLimited: true });
            },
            (err: unknown) => {
              const e = toServiceError(err);
              refuse(e.code, e.details, { role, classLimited: true });
            },
          )
          .catch((err: unknown) => log.warn({ err, method: method.path }, 'call could not be answered'));
      })
      .build();
    return new ServerInterceptingCall(call, new ResponderBuilder().withStart((next) => next(listener)).build());
  };
}
