/**
 * Orchestrator process: the gRPC front end.
 *
 *   node dist/src/bin/orchestrator.js [--config FILE] [--grpc-addr HOST:PORT]
 */
import '../process/v8-tuning.js'; // first: V8 settings before any other module is compiled
import { Command } from 'commander';
import { loadConfig, type ConfigInput } from '../config/config.js';
import { createLogger } from '../logging/logger.js';
import { Orchestrator } from '../orchestrator.js';
import { onShutdown } from '../process/shutdown.js';
import { runMain } from '../process/run-main.js';
import { resolveRedis } from '../process/redis-url.js';

const program = new Command()
  .name('orchestrator')
  .description('Serve the Orchestrator gRPC API')
  .option('--config <file>', 'TOML config file')
  .option('--grpc-addr <addr>', 'gRPC listen address (default 127.0.0.1:50052)')
  .parse();
const flags = program.opts<{ config?: string; grpcAddr?: string }>();
const overrides: ConfigInput = flags.grpcAddr ? { grpc: { addr: flags.grpcAddr } } : {};

await runMain('orchestrator', async () => {
  const config = loadConfig({ file: flags.config, overrides });
  const log = createLogger(config.logLevel, { process: 'orchestrator' });
  const redis = await resolveRedis(config, log, { what: 'the orchestrator' });
  const orchestrator = new Orchestrator({ config, redisUrl: redis.url, logger: log });
  onShutdown(log, () => orchestrator.close());
  await orchestrator.start();
});
