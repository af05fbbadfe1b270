/**
 * The env-manager process: the Docker services of a service file, managed; gRPC
 * (envmanager.v1.EnvManagerService, default 127.0.0.1:50100) and HTTP /metrics, /health, /ready
 * (default 127.0.0.1:50101).
 *
 *   node dist/src/bin/env-manager.js --services FILE [--config FILE] [--grpc-addr A] [--http-addr A]
 *
 * SIGTERM stops watching and, with envManager.stopServicesOnExit, stops the services too; exit 0.
 */
import { Command } from 'commander';
import { ConfigError, loadConfig, type ConfigInput } from '../config/config.js';
import { DockerClient } from '../docker/docker-client.js';
import { loadServiceFile, ServiceFileError } from '../env-manager/service-file.js';
import { EnvManagerProcess } from '../env-manager-process.js';
import { createLogger } from '../logging/logger.js';
import { onShutdown } from '../process/shutdown.js';
import { runMain } from '../process/run-main.js';

const program = new Command()
  .name('env-manager')
  .description('Bring up, watch and stop the Docker services Orchestrator depends on')
  .option('--services <file>', 'service file (TOML); default envManager.servicesFile')
  .option('--config <file>', 'Orchestrator TOML config file')
  .option('--grpc-addr <addr>', 'gRPC listen address (default 127.0.0.1:50100)')
  .option('--http-addr <addr>', 'HTTP listen address for /metrics, /health and /ready (default 127.0.0.1:50101)')
  .parse();
const flags = program.opts<{ services?: string; config?: string; grpcAddr?: string; httpAddr?: string }>();

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
  const env = new EnvManagerProcess({ config, file, docker, logger: log });
  onShutdown(log, () => env.close());
  await env.start();
});
