/**
 * `it` with a whole system of its own per test: `systemTest('...', async ({ sys }) => ...)`.
 * The system starts before the body and stops after it, passed or failed.
 *
 * For suites whose tests run concurrently (`describe(..., { concurrent: true })`): a shared
 * `let sys` set in beforeEach would be replaced by the next test's while the first still runs,
 * so each test gets its own from its context. Tests that wait on wall-clock time (schedule
 * ticks, lock expiry, grace periods, heartbeats) then overlap their waits rather than add them.
 * Tests needing other config set it for their describe block with
 * `systemTest.scoped({ systemToml: '...' })` (vitest 3.2's `extend` with a new value for an
 * existing fixture does not reach the `sys` fixture: it kept the default config).
 *
 * Pitfall: a test made with `test.extend` does not take its timeout from the enclosing
 * describe's options (vitest 3 passes `testTimeout` instead), so each gives its own:
 * `systemTest('...', { timeout: 120_000 }, async ({ sys }) => ...)`.
 */
import { test } from 'vitest';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from './system.js';

export const systemTest = test.extend<{ systemToml: string; sys: TestSystem }>({
  systemToml: TEST_CONFIG_TOML,
  sys: async ({ systemToml }, use) => {
    const sys = await startSystem({ toml: systemToml });
    try {
      await use(sys);
    } finally {
      await sys.stop();
    }
  },
});
