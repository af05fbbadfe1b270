/**
 * The Python package (clients/python/) for the suites: installed the README's way into a fresh
 * venv that sees Debian's python3-grpcio and python3-protobuf (no package index), once per test
 * file, and its unittest suites run against live processes. Without Debian's packages a suite
 * skips on a laptop and fails under CI=true (.ci/run installs them).
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/paths.js';

/** Debian's interpreter: the one python3-grpcio installs into (a pyenv python3 on PATH has none). */
export const SYSTEM_PYTHON = '/usr/bin/python3';
export const PYTHON_PACKAGE_DIR = join(PROJECT_ROOT, 'clients/python');

/** Whether Debian's Python with grpcio, protobuf and venv is here; throws under CI=true when not. */
export function pythonAvailable(suite: string): boolean {
  const r = spawnSync(SYSTEM_PYTHON, ['-c', 'import grpc, google.protobuf, venv, ensurepip'], { stdio: 'ignore' });
  if (r.status === 0) return true;
  const why = `${suite}: ${SYSTEM_PYTHON} cannot import grpc, google.protobuf, venv and ensurepip`;
  if (process.env.CI === 'true') throw new Error(`${why}; CI must install python3-grpcio, python3-protobuf, python3-venv and python3-pip (.ci/run)`);
  process.stderr.write(`SKIPPED ${why} (apt-get install python3-grpcio python3-protobuf python3-venv python3-pip)\n`);
  return false;
}

export interface PythonEnv {
  /** The venv's interpreter, with the package installed. */
  python: string;
  /** Runs a program in the venv; resolves with its exit code and everything it printed. */
  run(args: string[], opts?: { env?: Record<string, string>; cwd?: string; timeoutMs?: number }): Promise<{ code: number | string; out: string }>;
  remove(): void;
}

/**
 * A venv with the package installed as the README says:
 * `python3 -m venv --system-site-packages DIR && DIR/bin/pip install --no-build-isolation --no-index ./clients/python`.
 * pip builds in the folder it installs from (build/, *.egg-info): it installs from a copy, so
 * the checkout stays clean and two suites installing at once do not share a build folder.
 */
export async function installPythonPackage(): Promise<PythonEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'orq-py-'));
  const venv = join(dir, 'venv');
  const python = join(venv, 'bin', 'python');
  // Asynchronous, so that a suite can start its system while pip works.
  const step = (cmd: string, args: string[]) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(cmd, args, { cwd: dir, env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', (code, sig) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? sig}):\n${out}`))));
    });
  const source = join(dir, 'package');
  cpSync(PYTHON_PACKAGE_DIR, source, { recursive: true, filter: (f) => !/(^|\/)(build|__pycache__|[^/]*\.egg-info|\.venv)$/.test(f) });
  await step(SYSTEM_PYTHON, ['-m', 'venv', '--system-site-packages', venv]);
  await step(join(venv, 'bin', 'pip'), ['install', '--quiet', '--no-build-isolation', '--no-index', source]);
  return {
    python,
    run: (args, opts = {}) =>
      new Promise((resolve) => {
        // Run from the temp dir, so `import orchestrator` finds the installed package, not the checkout's folder.
        const child = spawn(python, args, {
          cwd: opts.cwd ?? dir,
          env: { PATH: process.env.PATH, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1', ...opts.env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
        child.on('exit', (code, sig) => {
          clearTimeout(timer);
          resolve({ code: code ?? sig ?? -1, out });
        });
      }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Runs the package's unittest modules matching `pattern` (clients/python/tests/) in `env`. */
export function runPythonTests(
  py: PythonEnv,
  pattern: string,
  env: Record<string, string>,
  timeoutMs = 240_000,
): Promise<{ code: number | string; out: string }> {
  return py.run(['-m', 'unittest', 'discover', '-v', '-s', join(PYTHON_PACKAGE_DIR, 'tests'), '-t', join(PYTHON_PACKAGE_DIR, 'tests'), '-p', pattern], {
    env,
    timeoutMs,
  });
}
