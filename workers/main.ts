/**
 * Worker pool process.
 *
 *   node dist/workers/main.js [--config FILE] [--classes cpu_short:8,cpu_long] [--pool-id ID]
 *
 * Flags override the config file and the environment (ORCHESTRATOR_POOL_CLASSES, ...).
 */
import '../src/process/v8-tuning.js'; // first: V8 settings before any other module is compiled
import { Command } from 'commander';
import { loadConfig, parsePoolClasses, type ConfigInput } from '../src/config/config.js';
import { createLogger } from '../src/logging/logger.js';
import { onShutdown } from '../src/process/shutdown.js';
import { runMain } from '../src/process/run-main.js';
import { resolveRedis } from '../src/process/redis-url.js';
import { WorkerPool } from './worker-pool.js';

const program = new Command()
  .name('orchestrator-pool')
  .description('Run tasks of one or more classes')
  .option('--config <file>', 'TOML config file')
  .option('--classes <list>', 'classes served, each with an optional concurrency: cpu_short:8,cpu_long')
  .option('--pool-id <id>', 'unique pool id (default host-pid)')
  .parse();

const flags = program.opts<{ config?: string; classes?: string; poolId?: string }>();
await runMain('orchestrator-pool', async () => {
  const overrides: ConfigInput = { pool: {} };
  if (flags.classes) overrides.pool!.classes = parsePoolClasses(flags.classes, '--classes');
  if (flags.poolId) overrides.pool!.id = flags.poolId;
  const config = loadConfig({ file: flags.config, overrides });
  const log = createLogger(config.logLevel, { process: 'pool' });
  const redis = await resolveRedis(config, log, { what: 'a worker pool' });
  const pool: WorkerPool = new WorkerPool({
    config,
    redisUrl: redis.url,
    logger: log,
    env: process.env,
    // DrainPool with exit_when_drained: nothing runs any more, so close() is quick.
    onDrainedExit: () =>
      void pool.close().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      ),
  });
  onShutdown(log, () => pool.close());
  await pool.start();
});
