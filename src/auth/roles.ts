/**
 * Roles of bearer tokens. Each server has a ladder of roles, lowest first; a role holds every
 * right of the roles below it, so a method needs one minimum role and a check is a comparison.
 *
 *   orchestrator:  read < submit < operate < admin
 *   env-manager:   read < control
 */

/** Roles of the orchestrator's gRPC tokens (grpc.auth). */
export const GRPC_ROLES = ['read', 'submit', 'operate', 'admin'] as const;
export type GrpcRole = (typeof GRPC_ROLES)[number];

/** Roles of the env-manager's gRPC tokens (envManager.auth). */
export const ENV_MANAGER_ROLES = ['read', 'control'] as const;
export type EnvManagerRole = (typeof ENV_MANAGER_ROLES)[number];

/** What a token grants: a role, and optionally the only task classes it may act on. */
export interface Grant<R extends string = string> {
  role: R;
  /** Undefined: every class. */
  classes?: ReadonlySet<string>;
}

/** Whether `held` is `needed` or above it on the ladder. */
export function roleCovers(ladder: readonly string[], held: string, needed: string): boolean {
  const h = ladder.indexOf(held);
  const n = ladder.indexOf(needed);
  return h >= 0 && n >= 0 && h >= n;
}
