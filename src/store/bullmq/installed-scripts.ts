/**
 * BullMQ's own Lua scripts, as the installed BullMQ defines them, for scripts of ours that run
 * BullMQ's step and ours in one call (the `--- @bullmq` lines of src/store/lua/: the submit,
 * cancel and requeue scripts, the pools' moves of a running job). Each is wrapped as a Lua function of (KEYS, ARGV),
 * so that inside it BullMQ's code sees exactly the keys and arguments BullMQ itself would pass.
 * Building from the installed source keeps the two from drifting apart; the layout our callers
 * were written for is script-layouts.ts's, checked against the installed scripts at start
 * (startup-guard.ts) and again here, once, before the first script is built.
 * Callers build their scripts when first used, not at import, so that the guard's message at
 * start is what a mismatch shows.
 */
import { createRequire } from 'node:module';
import { assertBullmqScripts } from './startup-guard.js';
import { bullKeyCount, type BullScriptName } from './script-layouts.js';

interface BullScript {
  name: string;
  keys: number;
  content: string;
}

let scripts: Record<string, BullScript> | undefined;

/** The source of BullMQ's script `name`. */
function bullmqScript(name: BullScriptName): string {
  if (!scripts) {
    assertBullmqScripts();
    scripts = createRequire(import.meta.url)('bullmq/dist/cjs/scripts/index.js') as Record<string, BullScript>;
  }
  const script = scripts[name];
  const keys = bullKeyCount(name);
  if (!script || script.keys !== keys) {
    throw new Error(`this BullMQ's ${name} script takes ${script?.keys ?? 'no'} keys, not ${keys}: see README "Upgrading BullMQ"`);
  }
  return script.content;
}

/** BullMQ's script `name` as a local Lua function `fn(KEYS, ARGV)`. */
export function bullmqFunction(fn: string, name: BullScriptName): string {
  return `local function ${fn}(KEYS, ARGV)\n${bullmqScript(name)}\nend\n`;
}
