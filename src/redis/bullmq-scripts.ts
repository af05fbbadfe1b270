/**
 * BullMQ's own Lua scripts, as the installed BullMQ defines them, for scripts of ours that run
 * BullMQ's step and ours in one call (workers/task-backend.ts: the finish; src/tasks/submitter.ts:
 * the add). Each is wrapped as a Lua function of (KEYS, ARGV), so that inside it BullMQ's code
 * sees exactly the keys and arguments BullMQ itself would pass. Building from the installed
 * source keeps the two from drifting apart; a script whose key count is not the one our callers
 * were written for is refused at start.
 */
import { createRequire } from 'node:module';

interface BullScript {
  name: string;
  keys: number;
  content: string;
}

let scripts: Record<string, BullScript> | undefined;

/** The source of BullMQ's script `name`; throws when it takes other than `keys` keys. */
export function bullmqScript(name: string, keys: number): string {
  scripts ??= createRequire(import.meta.url)('bullmq/dist/cjs/scripts/index.js') as Record<string, BullScript>;
  const script = scripts[name];
  if (!script || script.keys !== keys) {
    throw new Error(`this BullMQ's ${name} script takes ${script?.keys ?? 'no'} keys, not ${keys}: src/redis/bullmq-scripts.ts's callers need updating`);
  }
  return script.content;
}

/** BullMQ's script `name` as a local Lua function `fn(KEYS, ARGV)`. */
export function bullmqFunction(fn: string, name: string, keys: number): string {
  return `local function ${fn}(KEYS, ARGV)\n${bullmqScript(name, keys)}\nend\n`;
}
