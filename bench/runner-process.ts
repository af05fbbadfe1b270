/**
 * The runner scenario's task runner (bench/runner-scenario.ts): a TypeScript TaskRunner serving
 * one no-op task, `noop`, which answers its payload, as the in-process `echo` handler does.
 *
 *   node dist/bench/runner-process.js PORT MAX_CONCURRENCY
 *
 * Sends {ready: true} once it serves; SIGTERM stops it; it exits when the bench goes away.
 */
import '../src/process/v8-tuning.js'; // first: V8 settings before any other module is compiled
import { TaskRunner } from '../src/runner/task-runner.js';

const [port, maxConcurrency] = process.argv.slice(2) as [string, string];
const runner = new TaskRunner({ name: 'bench', maxConcurrency: Number(maxConcurrency) }).task('noop', (payload) => payload);

process.on('SIGTERM', () => {
  void runner.shutdown(1_000).finally(() => process.exit(0));
});
process.on('disconnect', () => process.exit(1));

await runner.listen(`127.0.0.1:${port}`);
process.send?.({ ready: true });
