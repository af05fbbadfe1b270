/**
 * A sandbox child exits when its pool is killed outright, whether its handler waits (the IPC
 * channel's 'disconnect') or never yields (the watch thread). Real processes: a stand-in pool
 * forks a child that loads the built parent watch (dist/, so `npm run build` first), and the
 * test SIGKILLs the stand-in.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/paths.js';
import { procStat } from '../workers/pool-guard/proc-stat.js';
import { waitFor } from './helpers/wait.js';

const WATCH = pathToFileURL(join(PROJECT_ROOT, 'dist/workers/sandbox/parent-watch.js')).href;

/** The sandbox child: starts the watch, says so, then spins or waits for ever. */
const child = (spin: boolean) => `
const { exitWhenParentGoes } = await import(${JSON.stringify(WATCH)});
exitWhenParentGoes();
process.send('ready', () => {
  ${spin ? 'for (;;);' : 'setInterval(() => undefined, 1 << 30);'}
});
`;

/** The stand-in pool: forks the child and prints its pid once it is watching. */
const pool = (spin: boolean) => `
const { fork } = require('node:child_process');
const c = fork('--input-type=module', [], { execArgv: ['--input-type=module', '-e', ${JSON.stringify(child(spin))}], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
c.on('message', () => console.log(c.pid));
`;

describe('a sandbox child whose pool is killed with SIGKILL', { timeout: 30_000 }, () => {
  it.each([
    ['waits', false],
    ['spins without yielding', true],
  ])('exits when its handler %s', async (_what, spin) => {
    const parent = spawn(process.execPath, ['-e', pool(spin)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    parent.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const pid = Number(await waitFor(() => /^(\d+)\n/.exec(out)?.[1], { message: 'the child never started its watch' }));
    const start = procStat(pid)!.start;
    parent.kill('SIGKILL');
    await new Promise((r) => parent.once('exit', r));
    // The watch polls every 250 ms; the rest is slack for a loaded machine.
    await waitFor(() => procStat(pid)?.start !== start, { timeoutMs: 3_000, message: `child ${pid} outlived its parent` });
    expect(procStat(pid)?.start).not.toBe(start);
  });
});
