/**
 * The README's layout table lists every top-level folder and every folder of src/, so a
 * newcomer finds each part from it; a folder added without a row fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/paths.js';

/** Not part of the source tree: installed, built, or written at run time (see .gitignore). */
const NOT_SOURCE = new Set(['node_modules', 'dist', 'coverage', 'test-artifacts']);

const folders = (dir: string) =>
  readdirSync(join(PROJECT_ROOT, dir), { withFileTypes: true })
    .filter((e) => e.isDirectory() && !NOT_SOURCE.has(e.name) && (!e.name.startsWith('.') || e.name === '.ci'))
    .map((e) => `${dir ? `${dir}/` : ''}${e.name}/`);

describe('README layout', () => {
  it('has a row for every top-level folder and every folder of src/', () => {
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Layout\n'), readme.indexOf('\n### Adding an executor kind'));
    const listed = new Set([...section.matchAll(/^\| `([^`]+)`/gm)].map((m) => m[1]));
    // src/ itself is its folders' rows and `src/*.ts`.
    const missing = [...folders('').filter((f) => f !== 'src/'), ...folders('src')].filter((f) => !listed.has(f));
    expect(missing).toEqual([]);
  });
});
