/**
 * The dashboard on its own: the landing page at /admin/, task pages at /admin/tasks/<task_id>,
 * Bull Board at /admin/queues, workflow runs at /admin/workflows/<run_id>, and /metrics,
 * /health, /ready, on http.addr.
 *
 *   node dist/src/bin/dashboard.js [--config FILE] [--http-addr HOST:PORT]
 */
import { Command } from 'commander';
import { loadConfig, type ConfigInput } from '../config/config.js';
import { createLogger } from '../logging/logger.js';
import { onShutdown } from '../process/shutdown.js';
import { runMain } from '../process/run-main.js';
import { resolveRedis } from '../process/redis-url.js';
import { DashboardServer } from '../../dashboard/dashboard-server.js';

const program = new Command()
  .name('orchestrator-dashboard')
  .description('Serve the operator dashboard (Bull Board and workflow runs)')
  .option('--config <file>', 'TOML config file')
  .option('--http-addr <addr>', 'HTTP listen address (default 127.0.0.1:9097)')
  .parse();
const flags = program.opts<{ config?: string; httpAddr?: string }>();
const overrides: ConfigInput = flags.httpAddr ? { http: { addr: flags.httpAddr } } : {};

await runMain('orchestrator-dashboard', async () => {
  const config = loadConfig({ file: flags.config, overrides });
  const log = createLogger(config.logLevel, { process: 'dashboard' });
  const redis = await resolveRedis(config, log, { what: 'the dashboard' });
  const server = new DashboardServer({ config, redisUrl: redis.url, logger: log });
  onShutdown(log, () => server.close());
  await server.start();
});
