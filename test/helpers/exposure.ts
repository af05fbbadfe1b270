/**
 * The exposure rule as start-up applies it (grpcSecurity of a config section), with the log lines
 * it writes: for security/exposure.test.ts and, with real certificates, exposure.int.test.ts.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ENV_MANAGER_ROLES, GRPC_ROLES } from '../../src/auth/roles.js';
import { loadConfig, type ConfigInput } from '../../src/config/config.js';
import { grpcSecurity } from '../../src/grpc/grpc-security.js';

/** A logger whose lines the test reads. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

/** grpcSecurity of the orchestrator's section, as Orchestrator.start() calls it. */
export function orchestratorSecurity(grpc: NonNullable<ConfigInput['grpc']>) {
  const config = loadConfig({ env: {}, overrides: { grpc } });
  const { logger, lines } = capturingLogger();
  grpcSecurity(config.grpc, { section: 'grpc', addrKey: 'grpc.addr', addr: config.grpc.addr, roles: GRPC_ROLES, taskClasses: config.classes.keys() }, logger);
  return lines;
}

export function envManagerSecurity(envManager: NonNullable<ConfigInput['envManager']>) {
  const config = loadConfig({ env: {}, overrides: { envManager } });
  const { logger, lines } = capturingLogger();
  grpcSecurity(
    config.envManager,
    { section: 'envManager', addrKey: 'envManager.grpcAddr', addr: config.envManager.grpcAddr, roles: ENV_MANAGER_ROLES },
    logger,
  );
  return lines;
}
