import { configDefaults, defineConfig } from 'vitest/config';
import { DurationSequencer } from './test/duration-sequencer.js';

/** The chaos soak: a suite of its own, run last and alone (see the soak group below). */
const SOAK = 'test/soak.chaos.test.ts';

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
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
    projects: [
      {
        extends: true,
        test: {
          name: 'services',
          include: ['test/*.test.ts', 'test/security/**/*.test.ts'],
          exclude: [...configDefaults.exclude, SOAK],
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.test.ts'], sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: 'soak', include: [SOAK], sequence: { groupOrder: 2 } } },
    ],
  },
});
