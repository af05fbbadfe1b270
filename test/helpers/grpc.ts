/** gRPC assertions shared by the suites. */
import type { ServiceError } from '@grpc/grpc-js';

/** The error a call failed with; fails the test when the call succeeds. */
export async function grpcError(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('expected the call to fail');
}

/** The request field a failed call names (the `field` trailer). */
export function fieldOf(err: ServiceError): string {
  return String(err.metadata?.get('field')[0] ?? '');
}
