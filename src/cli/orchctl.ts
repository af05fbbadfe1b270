#!/usr/bin/env node
/**
 * orchctl: the operator's command line for Orchestrator (and its env-manager).
 *
 *   orchctl [--addr HOST:PORT] [--json] [--token T | --token-file F] [--tls --ca F [--cert F --key F]] <command> ...
 *   orchctl submit -c cpu_short -p n=1 --wait        orchctl events --follow
 *   orchctl workflow run etl -i url=... --watch      orchctl env status
 *   orchctl tasks --state failed --class cpu_short   orchctl retry --failed -c cpu_short
 *   orchctl purge --older-than 7d                   orchctl pools; orchctl pools drain ID [--exit]
 *
 * Exit codes: 0 done, 1 failed, 2 usage or bad input, 3 not found, 4 server unavailable,
 * 5 not allowed (src/cli/cli-context.ts).
 */
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/config.js';
import { VERSION } from '../version.js';
import { CliContext, EXIT, exitCodeOf, type GlobalFlags } from './cli-context.js';
import { registerClassCommands } from './class-commands.js';
import { registerFeedCommands } from './feed-commands.js';
import { registerQueueCommands } from './queue-commands.js';
import { registerSystemCommands } from './system-commands.js';
import { registerTaskCommands } from './task-commands.js';
import { registerLogCommands } from './log-commands.js';
import { registerTaskOpsCommands } from './task-ops-commands.js';
import { registerWorkflowCommands } from './workflow-commands.js';
import { registerScheduleCommands } from './schedule-commands.js';
import { registerPoolCommands } from './pool-commands.js';

/**
 * A reader that goes away (`orchctl tasks --all | head`, `events --follow | grep -m1`) closes the
 * pipe: the next write fails with EPIPE, which Node raises as an error event on the stream, an
 * uncaught exception with a stack trace when nobody listens. The reader has all it wanted, so
 * orchctl ends quietly, as `cat` or `seq` do (status 0; open gRPC streams die with the process).
 */
for (const out of [process.stdout, process.stderr]) {
  out.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok);
    throw err;
  });
}

const program = new Command()
  .name('orchctl')
  .description('Operate Orchestrator: tasks, feeds, workflows, health, the env-manager')
  .version(VERSION)
  .option('--addr <host:port>', 'orchestrator gRPC address (default: grpc.addr of the config, 127.0.0.1:50052)')
  .option('--env-addr <host:port>', 'env-manager gRPC address (default: envManager.grpcAddr, 127.0.0.1:50100)')
  .option('--config <file>', 'Orchestrator TOML config file for the defaults')
  .option('--json', 'machine-readable output: one JSON value per line')
  .option('--deadline-ms <ms>', 'deadline of each call', '30000')
  .option('--token <token>', 'bearer token (orchestrator and env-manager calls; default: env ORCHESTRATOR_TOKEN)')
  .option('--token-file <file>', 'bearer token: the first line of this file')
  .option('--tls', 'connect with TLS (system roots unless --ca)')
  .option('--ca <file>', 'PEM CA certificate to trust (implies --tls)')
  .option('--cert <file>', 'PEM client certificate, for mutual TLS (with --key)')
  .option('--key <file>', 'PEM private key of --cert')
  .exitOverride()
  .showHelpAfterError();

let context: CliContext | undefined;
const ctx = () => (context ??= new CliContext(program.opts<GlobalFlags>()));
registerTaskCommands(program, ctx);
registerLogCommands(program, ctx);
registerTaskOpsCommands(program, ctx);
registerFeedCommands(program, ctx);
registerWorkflowCommands(program, ctx);
registerClassCommands(program, ctx);
registerQueueCommands(program, ctx);
registerSystemCommands(program, ctx);
registerScheduleCommands(program, ctx);
registerPoolCommands(program, ctx);
for (const c of program.commands) c.exitOverride();
for (const c of program.commands.flatMap((x) => x.commands)) c.exitOverride();

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? EXIT.ok : EXIT.usage;
  } else {
    const e = err as { details?: string; message?: string };
    process.stderr.write(`orchctl: ${e.details || e.message || String(err)}\n`);
    process.exitCode = err instanceof ConfigError ? EXIT.usage : exitCodeOf(err);
  }
} finally {
  context?.close();
}
