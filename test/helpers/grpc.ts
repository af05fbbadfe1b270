/** gRPC assertions shared by the suites. */
import { credentials, loadPackageDefinition, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { HEALTH_PROTO } from '../../src/paths.js';

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

/** The status grpc.health.v1.Health/Check gives for the whole server (service ""), without a token. */
export function healthCheck(addr: string, creds = credentials.createInsecure()): Promise<string> {
  const def = loadPackageDefinition(loadSync(HEALTH_PROTO, { enums: String })) as any;
  const health = new def.grpc.health.v1.Health(addr, creds);
  return new Promise<string>((resolve, reject) =>
    health.Check({ service: '' }, (err: ServiceError | null, res: { status: string }) => {
      health.close();
      return err ? reject(err) : resolve(res.status);
    }),
  );
}
