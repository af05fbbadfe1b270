/**
 * The built orchctl (dist/src/cli/orchctl.js) as a subprocess. Spawned, never spawnSync: the
 * server it talks to often runs in the test's own process and must keep serving meanwhile.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/paths.js';

export interface OrchctlRun {
  code: number | null;
  out: string;
  err: string;
}

export interface OrchctlProcess {
  done: Promise<OrchctlRun>;
  /** What it printed so far. */
  out(): string;
  kill(): void;
}

export function spawnOrchctl(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): OrchctlProcess {
  const child = spawn(process.execPath, [join(PROJECT_ROOT, 'dist/src/cli/orchctl.js'), ...args], {
    env: { PATH: process.env.PATH, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdin.end(opts.stdin ?? '');
  const done = new Promise<OrchctlRun>((resolve) => child.on('exit', (code) => resolve({ code, out, err })));
  return { done, out: () => out, kill: () => child.kill('SIGTERM') };
}

/** Runs orchctl to its end. */
export function orchctl(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<OrchctlRun> {
  return spawnOrchctl(args, opts).done;
}
