/** Locations inside the installed project, valid from src/ (tests) and from dist/ alike. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'proto', 'orchestrator', 'v1', 'orchestrator.proto'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the project root (proto/orchestrator/v1/orchestrator.proto)');
    dir = up;
  }
  return dir;
}

export const PROJECT_ROOT = findRoot();
export const PROTO_DIR = join(PROJECT_ROOT, 'proto');
/** gRPC's standard health protocol (src/grpc/health-service.ts serves it). */
export const HEALTH_PROTO = join(PROTO_DIR, 'grpc/health/v1/health.proto');
