/**
 * `npm start`: build, then run the start binary (dist/src/bin/start.js) in this same process,
 * saying so first: tsc takes 10 s or more, and a silent terminal for that long reads as a hang.
 * Plain JavaScript, because it runs before anything is compiled.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const t0 = performance.now();
process.stdout.write('building: tsc -p tsconfig.json ...\n');
const built = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (built.status !== 0) {
  process.stderr.write(`building failed (tsc exit ${built.status ?? built.signal})\n`);
  process.exit(built.status || 1);
}
process.stdout.write(`building: done (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
await import('../../dist/src/bin/start.js');
