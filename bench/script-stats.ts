/**
 * `--script-stats`: Redis's time per script of a timed run, from its SLOWLOG at a threshold of 0
 * (every command logged, so the run itself gets slower: its figures are not comparable with a
 * run without it). Each EVALSHA is named by the store script whose source has that SHA1
 * (src/store/lua/, as src/store/lua-command.ts sends them); others show their SHA's first 8
 * characters. Printed as µs per call, calls per task and µs per task, largest first.
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { STORE_LUA_DIR, scriptSource } from '../src/store/store-script.js';

/** Up to this many commands are kept per run; older ones fall out. */
const MAX_LEN = 2_000_000;

let names: Map<string, string> | undefined;

/** SHA1 -> store script name, for every operation under src/store/lua/. */
function scriptNames(): Map<string, string> {
  if (names) return names;
  names = new Map();
  const walk = (base: string) => {
    for (const e of readdirSync(join(STORE_LUA_DIR, base), { withFileTypes: true })) {
      const p = base ? `${base}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (p !== 'includes') walk(p);
      } else if (e.name.endsWith('.lua')) {
        const name = p.slice(0, -4);
        names!.set(createHash('sha1').update(scriptSource(name)).digest('hex'), name);
      }
    }
  };
  walk('');
  return names;
}

/** Starts logging every command. */
export async function startScriptStats(redis: Redis): Promise<void> {
  await redis.config('SET', 'slowlog-max-len', String(MAX_LEN));
  await redis.config('SET', 'slowlog-log-slower-than', '0');
  await redis.call('SLOWLOG', 'RESET');
}

/** Stops logging, prints the scripts' time per task, and empties the log. */
export async function printScriptStats(redis: Redis, tasks: number): Promise<void> {
  await redis.config('SET', 'slowlog-log-slower-than', '-1');
  const log = (await redis.call('SLOWLOG', 'GET', '-1')) as [number, number, number, string[]][];
  await redis.call('SLOWLOG', 'RESET');
  const by = new Map<string, { us: number; calls: number }>();
  for (const [, , us, args] of log) {
    const cmd = String(args[0]).toLowerCase();
    const sha = String(args[1] ?? '');
    const name = cmd === 'evalsha' ? (scriptNames().get(sha) ?? `evalsha ${sha.slice(0, 8)}`) : cmd;
    const s = by.get(name) ?? { us: 0, calls: 0 };
    s.us += us;
    s.calls += 1;
    by.set(name, s);
  }
  const rows = [...by].filter(([n]) => n !== 'slowlog' && n !== 'config').sort((a, b) => b[1].us - a[1].us);
  if (log.length >= MAX_LEN) console.log(`    (the log held only the last ${MAX_LEN} commands)`);
  for (const [name, s] of rows.slice(0, 10)) {
    console.log(
      `    ${name.padEnd(28)} ${(s.us / s.calls).toFixed(1).padStart(8)} µs/call ${(s.calls / tasks).toFixed(3).padStart(8)} calls/task ${(s.us / tasks).toFixed(1).padStart(7)} µs/task`,
    );
  }
}
