import { configDefaults, defineConfig } from 'vitest/config';
import { DurationSequencer } from './test/duration-sequencer.js';

/** The chaos soak: a suite of its own, run last and alone (see the soak group below). */
const SOAK = 'test/soak.chaos.test.ts';
/** Suites that start services or processes: by name, `*.int.test.ts` and `*.chaos.test.ts`. */
const WITH_SERVICES = ['test/**/*.int.test.ts', 'test/**/*.chaos.test.ts'];
/** The browser suites, which start a whole system and Chromium. */
const BROWSER = 'test/browser/**/*.test.ts';
/** Makes sure redis-server exists: for the projects that start one, never for the fast one. */
const REDIS_SETUP = 'test/global-setup.ts';

export default defineConfig({
  test: {
    // Integration suites start real redis-servers and pool processes: generous limits, since
    // CI machines are shared and 2 cores run several suites at once.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Longest suites first (test/duration-sequencer.ts), so no long one starts last.
    sequence: { sequencer: DurationSequencer },
    maxWorkers: 3,
    minWorkers: 1,
    // The browser suite runs alone, after the rest: Chromium beside the chaos suites' pools (2 s
    // locks, on 2 cores) starved a pool long enough to lose a lock and run a task twice. The soak
    // runs last, alone too: its five processes and AOF-always Redis would starve other suites'
    // 2 s locks, and theirs its own, and a stall it did not cause reads as a bug in its audit.
    // The fast project (`npm run test:fast`) is every other `*.test.ts`: no process, no server,
    // which its setup file enforces (test/helpers/fast-guard.ts).
    projects: [
      {
        extends: true,
        test: {
          name: 'fast',
          // One worker thread runs every fast file in turn, loading the packages they import
          // once: a process per file cost more CPU than the files' tests (40 s against 9 s
          // for the project on 2 cores). Each file still gets a fresh module registry for our
          // sources; the packages (and the guard's patched builtins) are shared.
          pool: 'threads',
          poolOptions: { threads: { singleThread: true } },
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...WITH_SERVICES, BROWSER],
          setupFiles: ['test/helpers/fast-guard.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'services',
          include: WITH_SERVICES,
          exclude: [...configDefaults.exclude, SOAK, BROWSER],
          globalSetup: [REDIS_SETUP],
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: 'browser', include: [BROWSER], globalSetup: [REDIS_SETUP], sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: 'soak', include: [SOAK], globalSetup: [REDIS_SETUP], sequence: { groupOrder: 2 } } },
    ],
  },
});
