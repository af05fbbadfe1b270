/**
 * The env-manager process: the Docker services of a service file, managed; gRPC
 * (envmanager.v1.EnvManagerService, default 127.0.0.1:50100) and HTTP /health, /ready
 * (default 127.0.0.1:50101).
 *
 *   node dist/src/bin/env-manager.js --services FILE [--config FILE] [--grpc-addr A] [--http-addr A]
 *
 * SIGTERM stops watching and, with envManager.stopServicesOnExit, stops the services too; exit 0.
 */
import { createServer, type Server } from 'node:http';
import { Command } from 'commander';
import { ConfigError, loadConfig, type ConfigInput } from '../config/config.js';
import { DockerClient } from '../docker/docker-client.js';
import { EnvManager } from '../env-manager/env-manager.js';
import { loadServiceFile, ServiceFileError } from '../env-manager/service-file.js';
import { EnvManagerServer } from '../grpc/env-manager-service.js';
import { createLogger } from '../logging/logger.js';
import { onShutdown } from '../process/shutdown.js';
import { runMain } from '../process/run-main.js';

const program = new Command()
  .name('env-manager')
  .description('Bring up, watch and stop the Docker services Orchestrator depends on')
  .option('--services <file>', 'service file (TOML); default envManager.servicesFile')
  .option('--config <file>', 'Orchestrator TOML config file')
  .option('--grpc-addr <addr>', 'gRPC listen address (default 127.0.0.1:50100)')
  .option('--http-addr <addr>', 'HTTP listen address for /health and /ready (default 127.0.0.1:50101)')
  .parse();
const flags = program.opts<{ services?: string; config?: string; grpcAddr?: string; httpAddr?: string }>();

function listen(server: Server, addr: string): Promise<number> {
  const i = addr.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(addr.slice(i + 1)), addr.slice(0, i).replace(/^\[|\]$/g, ''), () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });
}

await runMain('env-manager', async () => {
  const envManager: Record<string, string> = {};
  if (flags.services) envManager.servicesFile = flags.services;
  if (flags.grpcAddr) envManager.grpcAddr = flags.grpcAddr;
  if (flags.httpAddr) envManager.httpAddr = flags.httpAddr;
  const config = loadConfig({ file: flags.config, overrides: { envManager } as ConfigInput });
  const log = createLogger(config.logLevel, { process: 'env-manager' });
  if (!config.envManager.servicesFile) throw new ConfigError('config key envManager.servicesFile: no service file (--services FILE or ORCHESTRATOR_ENV_FILE)');
  let file;
  try {
    file = loadServiceFile(config.envManager.servicesFile, process.env);
  } catch (err) {
    if (err instanceof ServiceFileError) throw new ConfigError(err.message);
    throw err;
  }
  const docker = new DockerClient({ socketPath: config.docker.socketPath });
  const manager = new EnvManager({ docker, file, logger: log });
  const grpc = new EnvManagerServer({ addr: config.envManager.grpcAddr, manager, docker, logger: log });
  const http = createServer((req, res) => {
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (req.url === '/ready') {
      void docker.ping().then((ok) => res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ docker: ok })));
    } else res.writeHead(404).end();
  });
  onShutdown(log, async () => {
    await grpc.close(2_000);
    http.close();
    await manager.close(config.envManager.stopServicesOnExit);
  });
  await grpc.start();
  const httpPort = await listen(http, config.envManager.httpAddr);
  log.info({ grpc: `${config.envManager.grpcAddr.replace(/:\d+$/, '')}:${grpc.port}`, http: httpPort, services: file.services.length }, 'env-manager serving');
  if (config.envManager.startOnBoot) {
    manager.up().catch((err: unknown) => log.error({ err: (err as Error).message }, 'bringing the services up failed'));
  }
});
