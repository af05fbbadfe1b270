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
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { assertBullmqScripts, installedFragmentsDir } from './startup-guard.js';
import { BULLMQ_FRAGMENTS, bullKeyCount, type BullScriptName } from './script-layouts.js';

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

const NESTED_INCLUDE = /^--- @include "([A-Za-z]+)"[ \t]*$/gm;

/**
 * BullMQ's include `name` (a Lua fragment defining `local function name(...)`, checked against
 * BULLMQ_FRAGMENTS by the start-up guard) with the includes it includes in turn, each inserted
 * once per script: `seen` holds what the script has already (keys `bullmq:<name>`). The
 * fragments call `rcall`, which the including script defines (`local rcall = redis.call`).
 */
export function bullmqFragment(name: string, seen: Set<string>): string {
  assertBullmqScripts();
  if (!Object.hasOwn(BULLMQ_FRAGMENTS, name)) throw new Error(`no BullMQ fragment "${name}" in script-layouts.ts BULLMQ_FRAGMENTS`);
  const expand = (inc: string): string => {
    if (seen.has(`bullmq:${inc}`)) return `-- (BullMQ's ${inc}: included above)`;
    seen.add(`bullmq:${inc}`);
    const text = readFileSync(join(installedFragmentsDir(), `${inc}.lua`), 'utf8');
    return text.replace(NESTED_INCLUDE, (_, nested: string) => expand(nested).trimEnd());
  };
  return expand(name);
}
