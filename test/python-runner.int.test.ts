/**
 * The Python task runner (clients/python/orchestrator/runner/), installed the README's way into a
 * venv: its unittest suites (clients/python/tests/test_runner*.py) drive it over real gRPC as a
 * pool would (Describe, results, progress and logs in order, failures, unknown tasks, cancel by
 * the call and by Cancel in async and sync functions, deadlines, the concurrency limit, a second
 * delivery, tokens, TLS, and the command line's graceful shutdown in a child process).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allProcesses, cmdline, describeProcess } from './helpers/process-tree.js';
import { installPythonPackage, pythonAvailable, runPythonTests, type PythonEnv } from './helpers/python.js';

const available = pythonAvailable('python runner');
let py: PythonEnv | undefined;

beforeAll(async () => {
  if (available) py = await installPythonPackage();
}, 180_000);
afterAll(() => py?.remove());

/** Processes started from the suite's venv that are still running. */
function leftFromVenv(env: PythonEnv) {
  return allProcesses().filter((p) => p.state !== 'Z' && cmdline(p.pid).startsWith(env.python));
}

describe.skipIf(!available)('the Python task runner, by its own suites over gRPC', () => {
  it('passes test_runner*.py and leaves no runner process behind', async () => {
    const env = py!;
    const r = await runPythonTests(env, 'test_runner*.py', {});
    expect(r.code, r.out).toBe(0);
    // Code 0 and OK: every test passed; the names show the ones this suite is about ran.
    expect(r.out).toMatch(/^OK$/m);
    const ran = Number(/^Ran (\d+) tests/m.exec(r.out)?.[1]);
    expect(ran, r.out).toBeGreaterThanOrEqual(30);
    for (const name of [
      'test_progress_and_log_lines_in_order_then_the_result',
      'test_cancel_rpc_stops_a_sync_function_and_ends_its_call_with_a_failure',
      'test_the_deadline_cancels_an_async_function_with_a_timed_out_failure',
      'test_one_call_beyond_max_concurrency_is_resource_exhausted',
      'test_a_second_delivery_replaces_the_running_attempt_even_when_full',
      'test_calls_without_the_token_are_unauthenticated',
      'test_sigterm_refuses_new_calls_and_lets_running_tasks_finish',
    ])
      expect(r.out).toContain(`\n${name} (`);
    expect(leftFromVenv(env).map(describeProcess)).toEqual([]);
  }, 300_000);
});
