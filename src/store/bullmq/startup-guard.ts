/**
 * The start-up guard: compares the installed BullMQ's scripts with the layout our code was
 * written for (script-layouts.ts) and refuses to start on any difference, naming the script,
 * what was expected and what was found. It reads the header comment of each script file
 * (`KEYS[n] name`, `ARGV[n] name`) and its key count, so a BullMQ that reorders two keys of a
 * script without changing their count is caught too, which a count check alone misses; and the
 * parameters of each function of BullMQ's includes our own scripts are built from
 * (BULLMQ_FRAGMENTS).
 *
 * Run once per process (the orchestrator and every pool at start; the script loader before it
 * builds a script); it reads a handful of small files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BULLMQ_FRAGMENTS, BULLMQ_SCRIPT_LAYOUTS, normalizeSlotName, type BullFragmentName, type BullScriptName } from './script-layouts.js';

/** Where the installed BullMQ keeps its generated script modules (its CommonJS build). */
export function installedScriptsDir(): string {
  return dirname(createRequire(import.meta.url).resolve('bullmq/dist/cjs/scripts/index.js'));
}

/** Where the installed BullMQ keeps the Lua includes its scripts are built from. */
export function installedFragmentsDir(): string {
  return join(dirname(installedScriptsDir()), 'commands', 'includes');
}

export interface ScriptMismatch {
  /** A script, or a fragment (an include's function) as `includes/<name>`. */
  script: BullScriptName | `includes/${BullFragmentName}`;
  /** What differs: 'missing', 'key count', 'keys', 'args' or (a fragment's) 'params'. */
  what: string;
  expected: string;
  found: string;
}

/** A script's header slots of one kind (KEYS or ARGV), in order, names normalised. */
function headerSlots(header: string, kind: 'KEYS' | 'ARGV'): string[] {
  const out: string[] = [];
  for (const m of header.matchAll(new RegExp(`^\\s*${kind}\\[(\\d+)\\]\\s*(.*)$`, 'gm'))) out[Number(m[1]) - 1] = normalizeSlotName(m[2]!);
  return Array.from(out, (s) => s ?? '(none)');
}

const list = (names: readonly string[]) => names.map((n, i) => `${i + 1}:${n}`).join(', ');

/** The parameters of `local function <name>(...)` in a fragment's text, or undefined when absent. */
function fragmentParams(text: string, name: string): string[] | undefined {
  const m = new RegExp(`^local function ${name}\\(([^)]*)\\)`, 'm').exec(text);
  return m
    ? m[1]!
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p !== '')
    : undefined;
}

/** The differences between the fragments (includes) in `dir` and BULLMQ_FRAGMENTS. */
export function checkBullmqFragments(dir = installedFragmentsDir()): ScriptMismatch[] {
  const out: ScriptMismatch[] = [];
  for (const [name, params] of Object.entries(BULLMQ_FRAGMENTS) as [BullFragmentName, readonly string[]][]) {
    const script = `includes/${name}` as const;
    let text: string;
    try {
      text = readFileSync(join(dir, `${name}.lua`), 'utf8');
    } catch {
      out.push({ script, what: 'missing', expected: `${name}.lua`, found: 'no such include' });
      continue;
    }
    const found = fragmentParams(text, name);
    if (!found) out.push({ script, what: 'missing', expected: `local function ${name}(...)`, found: 'no such function' });
    else if (list(found) !== list(params)) out.push({ script, what: 'params', expected: list(params), found: list(found) });
  }
  return out;
}

/**
 * The differences between the scripts in `dir` (default: the installed BullMQ's) and our table,
 * then those of the includes in `fragmentsDir` (default: the installed BullMQ's).
 */
export function checkBullmqScripts(dir = installedScriptsDir(), fragmentsDir = installedFragmentsDir()): ScriptMismatch[] {
  const files = readdirSync(dir);
  const out: ScriptMismatch[] = [];
  for (const [script, layout] of Object.entries(BULLMQ_SCRIPT_LAYOUTS) as [BullScriptName, (typeof BULLMQ_SCRIPT_LAYOUTS)[BullScriptName]][]) {
    const file = files.find((f) => new RegExp(`^${script}-\\d+\\.js$`).test(f));
    if (!file) {
      out.push({ script, what: 'missing', expected: `${script}-${layout.keys.length}.js`, found: 'no such script' });
      continue;
    }
    const text = readFileSync(join(dir, file), 'utf8');
    const count = Number(/\bkeys:\s*(\d+)/.exec(text.slice(text.lastIndexOf('exports.')))?.[1] ?? file.match(/-(\d+)\.js$/)![1]);
    if (count !== layout.keys.length) out.push({ script, what: 'key count', expected: String(layout.keys.length), found: String(count) });
    const start = text.indexOf('--[[');
    const header = start < 0 ? '' : text.slice(start, text.indexOf(']]', start));
    const keys = headerSlots(header, 'KEYS');
    if (list(keys) !== list(layout.keys)) out.push({ script, what: 'keys', expected: list(layout.keys), found: list(keys) });
    const args = headerSlots(header, 'ARGV');
    if (list(args) !== list(layout.args)) out.push({ script, what: 'args', expected: list(layout.args), found: list(args) });
  }
  out.push(...checkBullmqFragments(fragmentsDir));
  return out;
}

/** Thrown when the installed BullMQ's scripts are not the ones our scripts were written for. */
export class BullmqScriptsMismatchError extends Error {
  constructor(readonly mismatches: ScriptMismatch[]) {
    super(
      `the installed BullMQ's scripts differ from what Orchestrator was written for (BullMQ 6.7.0); refusing to start. ` +
        mismatches.map((m) => `${m.script}: ${m.what} expected [${m.expected}], found [${m.found}]`).join('; ') +
        `. See README "Upgrading BullMQ".`,
    );
    this.name = 'BullmqScriptsMismatchError';
  }
}

let checked = false;

/** Throws BullmqScriptsMismatchError on a mismatch; checks the installed BullMQ once per process. */
export function assertBullmqScripts(dir?: string, fragmentsDir?: string): void {
  if (dir === undefined && fragmentsDir === undefined && checked) return;
  const mismatches = checkBullmqScripts(dir, fragmentsDir);
  if (mismatches.length > 0) throw new BullmqScriptsMismatchError(mismatches);
  if (dir === undefined && fragmentsDir === undefined) checked = true;
}
