import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    // Integration suites start real redis-servers and pool processes: generous limits, since
    // CI machines are shared and 2 cores run several suites at once.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 3,
    minWorkers: 1,
    // The browser suite runs alone, after the rest: Chromium beside the chaos suites' pools (2 s
    // locks, on 2 cores) starved a pool long enough to lose a lock and run a task twice.
    projects: [
      { extends: true, test: { name: 'services', include: ['test/*.test.ts', 'test/security/**/*.test.ts'], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.test.ts'], sequence: { groupOrder: 1 } } },
    ],
  },
});
