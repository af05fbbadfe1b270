/**
 * Our Lua scripts: one `.lua` file per operation under `src/store/lua/`, each opening with its
 * contract in BullMQ's style (what it does; KEYS and ARGV by name; what it returns; the events it
 * writes). A script is assembled from its file and the fragments it includes:
 *
 *   --- @include "includes/task-event"        a fragment of ours (src/store/lua/includes/), once
 *   --- @bullmq addPrioritizedJob as bullAdd  BullMQ's own script as a local Lua function
 *                                             bullAdd(KEYS, ARGV) (bullmq/installed-scripts.ts)
 *   --- @bullmq-fragment getQueueMetadata     one of BullMQ's includes (its local function of that
 *                                             name, and what it includes), once; it calls `rcall`,
 *                                             which the script defines first
 *
 * A directive is a whole line. A fragment included twice (directly or through another fragment)
 * is inserted once, where it is first included; an include cycle is an error. Nothing is ever
 * interpolated into a script: constants a script shares with TypeScript are written in both and
 * checked by test/store-scripts.test.ts (return codes: src/store/codes.ts).
 *
 * The files are read from the project's source tree (valid from src/ and from dist/ alike, and
 * shipped in the image), once per script, when its store function is made (at start, so that a
 * missing file stops the process there). A script that uses BullMQ's checks the installed BullMQ
 * first (startup-guard.ts), so that the guard's message is what a mismatch shows.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RedisClient } from '../redis/redis-client.js';
import { PROJECT_ROOT } from '../paths.js';
import { bullmqFragment, bullmqFunction } from './bullmq/installed-scripts.js';
import { BULLMQ_SCRIPT_LAYOUTS, type BullScriptName } from './bullmq/script-layouts.js';
import { luaCommand, type LuaCommandOptions } from './lua-command.js';

export const STORE_LUA_DIR = join(PROJECT_ROOT, 'src', 'store', 'lua');

/** The three directives, each a whole line: one line's match. */
const INCLUDE = /^--- @include "([a-z0-9/-]+)"[ \t]*$/;
const BULLMQ = /^--- @bullmq ([A-Za-z]+) as ([A-Za-z_][A-Za-z0-9_]*)[ \t]*$/;
const BULLMQ_FRAGMENT = /^--- @bullmq-fragment ([A-Za-z]+)[ \t]*$/;
/** Any of them, every line of a file. */
const DIRECTIVE = /^--- @(?:include "[a-z0-9/-]+"|bullmq [A-Za-z]+ as [A-Za-z_][A-Za-z0-9_]*|bullmq-fragment [A-Za-z]+)[ \t]*$/gm;

const sources = new Map<string, string>();

/**
 * Script `name` of `dir` with its directives expanded; `seen` holds the fragments already
 * inserted, `path` the includes that led here.
 */
export function assembleLua(dir: string, name: string, seen = new Set<string>(), path: readonly string[] = []): string {
  // One pass over every kind of directive, in the file's order, so that a fragment is inserted
  // where it is first included in the assembled text: a fragment included inside a function
  // (includes/staged-step) is local to it, and the script's own earlier directives must win.
  return readFileSync(join(dir, `${name}.lua`), 'utf8').replace(DIRECTIVE, (line: string) => {
    const inc = INCLUDE.exec(line);
    if (inc) {
      const included = inc[1]!;
      if (included === name || path.includes(included)) throw new Error(`Lua include cycle: ${[...path, name, included].join(' -> ')}`);
      if (seen.has(included)) return `-- (${included}: included above)`;
      seen.add(included);
      return assembleLua(dir, included, seen, [...path, name]).trimEnd();
    }
    const bull = BULLMQ.exec(line);
    if (bull) {
      const [, script, fn] = bull as unknown as [string, string, string];
      if (!Object.hasOwn(BULLMQ_SCRIPT_LAYOUTS, script)) throw new Error(`${name}.lua: no BullMQ script "${script}" in script-layouts.ts`);
      return bullmqFunction(fn, script as BullScriptName).trimEnd();
    }
    const fragment = BULLMQ_FRAGMENT.exec(line)!;
    return bullmqFragment(fragment[1]!, seen).trimEnd();
  });
}

/** The whole Lua text of script `name` (its file under src/store/lua/, without ".lua"). */
export function scriptSource(name: string): string {
  let src = sources.get(name);
  if (src === undefined) {
    src = assembleLua(STORE_LUA_DIR, name);
    sources.set(name, src);
  }
  return src;
}

/**
 * Script `name` as a function over `redis` (EVALSHA, falling back to EVAL: lua-command.ts, which
 * also says what `opts` are). `F` is the call's type at its site.
 */
export function storeScript<F extends (...args: never[]) => Promise<unknown>>(redis: RedisClient, name: string, opts: LuaCommandOptions = {}): F {
  return luaCommand<F>(redis, scriptSource(name), opts);
}
