/**
 * Our front end in a process of its own, for the latency scenario's second layout (the bench's
 * client in another process than the front end, as a real caller is): one Orchestrator
 * configured from arguments only (bench-config.ts), as startOurs (scenarios.ts) runs it in the
 * bench process.
 *
 *   node dist/bench/orchestrator-process.js REDIS_URL PREFIX
 *
 * Sends {ready: true, port} once it serves; SIGTERM closes it; it exits when the bench that
 * forked it goes away.
 */
import '../src/process/v8-tuning.js'; // first: V8 settings before any other module is compiled
import { createLogger } from '../src/logging/logger.js';
import { Orchestrator } from '../src/orchestrator.js';
import { benchConfig } from './bench-config.js';

const [redisUrl, prefix] = process.argv.slice(2) as [string, string];
const config = benchConfig({ redisUrl, prefix });
const orchestrator = new Orchestrator({ config, redisUrl, logger: createLogger('warn', { process: 'bench-orchestrator' }) });

process.on('SIGTERM', () => {
  void orchestrator.close(1_000).finally(() => process.exit(0));
});
process.on('disconnect', () => process.exit(1));

await orchestrator.start();
process.send?.({ ready: true, port: orchestrator.grpcPort });
