/**
 * `npm run test:fast` runs only tests that start no process and no server (README "Tests"), so it
 * stays under a minute and needs nothing installed. Two checks keep it so: the fast project's
 * setup file (test/helpers/fast-guard.ts) refuses a child process or a listening socket at run
 * time, which this file proves is in force; and no fast file imports child_process or a helper
 * that starts something, which names the file before it runs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/paths.js';
import { FAST_REFUSAL } from './helpers/fast-guard.js';

/** The helpers that start a redis-server, a system, Docker, Slurm, Chromium, openssl or a server. */
const STARTERS = ['browser', 'certs', 'docker', 'http', 'orchctl', 'redis-server', 'restartable-redis', 'slurm', 'system', 'system-test'];
const STARTING_IMPORT = new RegExp(
  `from '(node:)?child_process'|from '\\./helpers/(${STARTERS.join('|')})\\.js'|from '\\.\\./helpers/(${STARTERS.join('|')})\\.js'`,
);

/** The fast project's files, as vitest.config.ts selects them: every `*.test.ts` but the services' and the browser's. */
function fastSuites(): string[] {
  const testDir = join(PROJECT_ROOT, 'test');
  return (readdirSync(testDir, { recursive: true }) as string[])
    .map((f) => relative(PROJECT_ROOT, join(testDir, f)))
    .filter((f) => f.endsWith('.test.ts') && !/\.(int|chaos)\.test\.ts$/.test(f) && !f.startsWith('test/browser/'))
    .sort();
}

describe('fast suites', () => {
  it('cannot start a process or listen on a socket', async () => {
    const { spawnSync } = await import('node:child_process');
    const { createServer } = await import('node:net');
    expect(() => spawnSync('true')).toThrow(FAST_REFUSAL);
    expect(() => createServer().listen(0, '127.0.0.1')).toThrow(FAST_REFUSAL);
  });

  it('import no child_process and no helper that starts a service', () => {
    const suites = fastSuites();
    expect(suites).toContain('test/fast-suites.test.ts');
    expect(suites).not.toContain('test/command-executor.int.test.ts');
    const offenders = suites.filter((f) => STARTING_IMPORT.test(readFileSync(join(PROJECT_ROOT, f), 'utf8')));
    expect(offenders, 'these start processes or servers: name them *.int.test.ts').toEqual([]);
  });
});
