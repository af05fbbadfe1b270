/**
 * The package entry points (package.json `exports`): `orchestrator/client` loads the client and
 * the generated types and none of the server's dependencies; `orchestrator/server` and
 * `orchestrator/pool` export what the README's entry table lists; the root `orchestrator` keeps
 * exporting all of it. Each case imports the built entry by its package name (dist/, so
 * `npm run build` first) in a fresh Node process, which resolves it through the exports map as
 * a user's program would, and records every module that process loads: ES modules through a
 * load hook, CommonJS ones from require.cache (a CommonJS package required by another is loaded
 * by the CommonJS loader, which Node 20's hooks do not see).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/paths.js';

/** Appends every URL the ESM loader loads to the file it is given, before the load returns. */
const HOOKS = `
import { appendFileSync } from 'node:fs';
let out;
export function initialize(data) { out = data.out; }
export async function load(url, context, next) { appendFileSync(out, url + '\\n'); return next(url, context); }
`;

/** Imports one entry and prints its export names and every CommonJS module in the cache. */
const probe = (entry: string, out: string) => `
import { register, createRequire } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOKS)}), { data: { out: ${JSON.stringify(out)} } });
const m = await import(${JSON.stringify(entry)});
const cjs = Object.keys(createRequire(import.meta.url).cache);
process.stdout.write(JSON.stringify({ exports: Object.keys(m).sort(), cjs }));
`;

interface Loaded {
  exports: string[];
  /** Every module file the process loaded, as paths relative to the project (node:* builtins left out). */
  modules: string[];
}

function load(entry: string): Loaded {
  expect(existsSync(join(PROJECT_ROOT, 'dist/src/entry/client.js')), 'run `npm run build` first').toBe(true);
  const out = join(mkdtempSync(join(tmpdir(), 'client-entry-')), 'loaded.txt');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe(entry, out)], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 30_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const { exports, cjs } = JSON.parse(r.stdout) as { exports: string[]; cjs: string[] };
  const esm = readFileSync(out, 'utf8')
    .split('\n')
    .filter((u) => u.startsWith('file:'))
    .map((u) => decodeURIComponent(new URL(u).pathname));
  const rel = (p: string) => (p.startsWith(PROJECT_ROOT + '/') ? p.slice(PROJECT_ROOT.length + 1) : p);
  return { exports, modules: [...new Set([...esm, ...cjs].map(rel))] };
}

/** The npm packages among the loaded modules (a scoped package keeps its scope). */
function packagesOf(modules: string[]): Set<string> {
  const names = new Set<string>();
  for (const m of modules) {
    const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(m);
    if (match) names.add(match[1]!);
  }
  return names;
}

/** The runtime exports the README's "Package entry points" table lists for one entry. */
function readmeExports(entry: string): string[] {
  const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
  const row = readme.split('\n').find((l) => l.startsWith(`| \`${entry}\``));
  expect(row, `README has no entry-table row for ${entry}`).toBeDefined();
  const exportsCell = row!.split('|')[3]!;
  return [...exportsCell.matchAll(/`([A-Za-z_]\w*)`/g)].map((m) => m[1]!).sort();
}

/** What a client program must never load: the server's store, containers, HTTP app and logger. */
const SERVER_ONLY = ['bullmq', 'ioredis', 'dockerode', 'express', 'pino', '@bull-board/api', '@bull-board/express', 'prom-client', 'zod', 'msgpackr'];

describe('package entry points', { timeout: 60_000 }, () => {
  it('orchestrator/client loads the client, the generated code and gRPC, and none of the server', () => {
    const { exports, modules } = load('orchestrator/client');
    expect(exports).toEqual(readmeExports('orchestrator/client'));
    expect(exports).toContain('OrchestratorClient');
    const packages = packagesOf(modules);
    for (const name of SERVER_ONLY) expect(packages, `the client loaded ${name}`).not.toContain(name);
    // The probe sees CommonJS packages too (grpc-js is one), so the absences above are real.
    expect(packages).toContain('@grpc/grpc-js');
    const ours = modules.filter((m) => m.startsWith('dist/'));
    expect(ours).toContain('dist/src/client/orchestrator-client.js');
    // Besides the client and the generated code: the version and the executor kinds' client side.
    const allowed = /^dist\/src\/(entry|client|gen)\/|^dist\/src\/version\.js$|^dist\/src\/executors\/(client-executors|executor-kind)\.js$/;
    expect(ours.filter((m) => !allowed.test(m))).toEqual([]);
  });

  it('orchestrator/runner loads the task runner, its generated code and gRPC, and none of the server', () => {
    const { exports, modules } = load('orchestrator/runner');
    expect(exports).toEqual(readmeExports('orchestrator/runner'));
    const packages = packagesOf(modules);
    for (const name of SERVER_ONLY) expect(packages, `the runner loaded ${name}`).not.toContain(name);
    expect(packages).toContain('@grpc/grpc-js');
    const ours = modules.filter((m) => m.startsWith('dist/'));
    expect(ours).toContain('dist/src/runner/task-runner.js');
    const allowed = /^dist\/src\/(entry|runner)\/|^dist\/src\/gen\/orchestrator\/runner\/|^dist\/src\/version\.js$/;
    expect(ours.filter((m) => !allowed.test(m))).toEqual([]);
  });

  it.each(['orchestrator/server', 'orchestrator/pool'])('%s exports what the README lists', (entry) => {
    expect(load(entry).exports).toEqual(readmeExports(entry));
  });

  it('orchestrator/pool loads no gRPC at import: the runner executor is loaded when a served class may use a runner', () => {
    const packages = packagesOf(load('orchestrator/pool').modules);
    for (const name of ['@grpc/grpc-js', '@bufbuild/protobuf']) expect(packages, `${name} loaded at import`).not.toContain(name);
    // The positive control: the pool's own packages are seen.
    for (const name of ['bullmq', 'ioredis']) expect(packages).toContain(name);
  });

  it('the root entry keeps every export of the three (and so loads the whole server)', () => {
    const { exports, modules } = load('orchestrator');
    const all = new Set(['orchestrator/client', 'orchestrator/server', 'orchestrator/pool'].flatMap(readmeExports));
    expect(exports).toEqual([...all].sort());
    expect(exports).toEqual(readmeExports('orchestrator'));
    // The positive control of the client's check: the same probe does see these when loaded.
    const packages = packagesOf(modules);
    for (const name of ['bullmq', 'ioredis', 'express', 'pino', 'prom-client']) expect(packages).toContain(name);
    // Loaded on first use only (src/docker/docker-client.ts, src/grpc/lazy-reflection.ts,
    // dashboard/queue-board.ts): a process that never runs a container, answers a reflection
    // call or serves the queue board does not pay for them.
    for (const name of ['dockerode', '@grpc/reflection', '@bull-board/api', '@bull-board/express']) {
      expect(packages, `${name} loaded at import`).not.toContain(name);
    }
  });
});
