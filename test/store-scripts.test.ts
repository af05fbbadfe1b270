/**
 * The store's scripts keep their contracts (src/store/store-script.ts): every operation is a
 * `.lua` file with a header naming its KEYS, ARGV, output and events; every script assembles
 * (its includes exist, none loops); the return codes a header lists are its enum's in
 * src/store/codes.ts; and no Lua lives anywhere else in the code.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as codes from '../src/store/codes.js';
import { STORE_LUA_DIR, assembleLua, scriptSource } from '../src/store/store-script.js';

const ROOT = join(import.meta.dirname, '..');

function files(dir: string, ext: string, base = ''): string[] {
  return readdirSync(join(dir, base), { withFileTypes: true }).flatMap((e) => {
    const p = base ? `${base}/${e.name}` : e.name;
    if (e.isDirectory()) return files(dir, ext, p);
    return e.name.endsWith(ext) ? [p] : [];
  });
}

const operations = files(STORE_LUA_DIR, '.lua')
  .filter((f) => !f.startsWith('includes/'))
  .map((f) => f.replace(/\.lua$/, ''));
const fragments = (existsSync(join(STORE_LUA_DIR, 'includes')) ? files(join(STORE_LUA_DIR, 'includes'), '.lua') : []).map(
  (f) => `includes/${f.replace(/\.lua$/, '')}`,
);

/** The opening `--[[ ... ]]` block of a script's file. */
function header(name: string): string {
  const text = readFileSync(join(STORE_LUA_DIR, `${name}.lua`), 'utf8');
  const m = /^--\[\[\n([\s\S]*?)\n\]\]\n/.exec(text);
  if (!m) throw new Error(`${name}.lua does not open with its contract (--[[ ... ]])`);
  return m[1]!;
}

describe('store scripts', () => {
  it('finds the scripts', () => {
    expect(operations).toContain('schedules/replace-schedule');
  });

  it.each(operations)('%s.lua states its contract: KEYS, ARGV, output, events', (name) => {
    const h = header(name);
    expect(h, `${name}.lua: Input section`).toMatch(/\n {2}Input:\n/);
    expect(h, `${name}.lua: Output section`).toMatch(/\n {2}Output\b[^\n]*:\n/);
    expect(h, `${name}.lua: Events line`).toMatch(/\n {2}Events:/);
    // Every KEYS[n] / ARGV[n] the body reads by a fixed number is named in the header.
    const body = readFileSync(join(STORE_LUA_DIR, `${name}.lua`), 'utf8').slice(h.length);
    for (const [ref] of body.matchAll(/\b(KEYS|ARGV)\[\d+\]/g)) expect(h, `${name}.lua reads ${ref}`).toContain(ref);
  });

  it.each(fragments)('%s.lua says what it defines', (name) => {
    expect(header(name).length).toBeGreaterThan(20);
  });

  it.each(operations)('%s.lua assembles: its includes exist and none loops', (name) => {
    const src = scriptSource(name);
    expect(src).not.toMatch(/^--- @(include|bullmq) /m);
  });

  it('return codes in a header are its enum’s in src/store/codes.ts, member for member', () => {
    let checked = 0;
    for (const name of operations) {
      const h = header(name);
      const m = /Output \(Codes: (\w+)\):\n((?: {4}\d+ +\w+.*\n?)+)/.exec(h);
      if (!m) continue;
      const listed = [...m[2]!.matchAll(/^ {4}(\d+) +(\w+)/gm)].map(([, n, member]) => [member, Number(n)]);
      const enumObj = (codes as Record<string, Record<string, unknown>>)[m[1]!];
      expect(enumObj, `${name}.lua names enum ${m[1]}`).toBeDefined();
      const members = Object.entries(enumObj!).filter(([, v]) => typeof v === 'number');
      expect(listed, `${name}.lua's codes`).toEqual(members);
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('no Lua in TypeScript: every script is a .lua file under src/store/lua/', () => {
    const code = ['src', 'workers', 'queues', 'dashboard'].flatMap((d) => files(join(ROOT, d), '.ts').map((f) => `${d}/${f}`));
    // A Lua call (`redis.call('HGET', ...)`), not ioredis's `redis.call('EVALSHA', ...)` in lua-command.ts.
    const luaCall = /redis\.p?call\(\s*'(?!EVAL)[A-Z]+'/;
    expect(luaCall.test(readFileSync(join(STORE_LUA_DIR, 'schedules/replace-schedule.lua'), 'utf8'))).toBe(true);
    const withLua = code.filter((f) => luaCall.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(withLua).toEqual([]);
  });
});

describe('include directives', () => {
  const dir = mkdtempSync(join(tmpdir(), 'orq-lua-'));
  mkdirSync(join(dir, 'includes'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => writeFileSync(join(dir, `${name}.lua`), text);

  it('inserts a fragment once, where first included, also through another fragment', () => {
    write('includes/a', '-- a\nlocal A = 1\n');
    write('includes/b', '--- @include "includes/a"\nlocal B = A + 1\n');
    write('op', '--- @include "includes/a"\n--- @include "includes/b"\nreturn B\n');
    const out = assembleLua(dir, 'op');
    expect(out.match(/local A = 1/g)).toHaveLength(1);
    expect(out.indexOf('local A')).toBeLessThan(out.indexOf('local B'));
  });

  it('refuses an include cycle, naming it', () => {
    write('includes/x', '--- @include "includes/y"\n');
    write('includes/y', '--- @include "includes/x"\n');
    write('loop', '--- @include "includes/x"\n');
    expect(() => assembleLua(dir, 'loop')).toThrow('Lua include cycle: loop -> includes/x -> includes/y -> includes/x');
  });

  it('inserts BullMQ’s own script as a local function, and refuses a name BullMQ does not have', () => {
    write('bull', '--- @bullmq removeJob as bullRemove\nreturn 1\n');
    expect(assembleLua(dir, 'bull')).toMatch(/^local function bullRemove\(KEYS, ARGV\)\n/);
    write('nobull', '--- @bullmq noSuchScript as f\n');
    expect(() => assembleLua(dir, 'nobull')).toThrow('no BullMQ script "noSuchScript"');
  });
});
