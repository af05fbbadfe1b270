/**
 * The fast project's setup file (vitest.config.ts): a fast test starts no process and no
 * server, so `npm run test:fast` stays quick and needs nothing installed. Starting a child
 * process or listening on a socket throws here, naming the file's proper suffix, whatever the
 * call's path (a helper, a module of src/ the test reaches): a file that needs either is an
 * `*.int.test.ts`. Node's builtins are patched on their CommonJS objects and pushed to their ES
 * module bindings (syncBuiltinESMExports), which both kinds of import read.
 */
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

/** What a fast test tried, in the message every refusal carries (test/fast-suites.test.ts reads it). */
export const FAST_REFUSAL = 'a fast test starts no process and no server: name the file *.int.test.ts';

const refuse = (what: string) => (): never => {
  throw new Error(`${what}: ${FAST_REFUSAL}`);
};

const PROCESS_STARTERS = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const;
for (const name of PROCESS_STARTERS) (childProcess as unknown as Record<string, unknown>)[name] = refuse(`child_process.${name}`);
net.Server.prototype.listen = refuse('listening on a socket') as unknown as typeof net.Server.prototype.listen;
syncBuiltinESMExports();
