/**
 * src/store/ is the only door to BullMQ's internals: its private files (bullmq/dist), its script
 * names, its backend's execCommand and its sandbox classes appear nowhere else in the code
 * (README "Upgrading BullMQ": the guard and the upgrade gate only cover what goes through it).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { installedScriptsDir } from '../src/store/bullmq/startup-guard.js';

const CODE = ['src', 'workers', 'queues', 'dashboard', 'bench', 'examples'];
const OUTSIDE = [':!src/store', ':!src/gen'];

/** `git grep -n -E pattern` over `paths`; the matching lines ('' for none). */
function grep(pattern: string, paths: string[]): string {
  try {
    return execFileSync('git', ['grep', '-n', '-E', pattern, '--', ...paths], { encoding: 'utf8' });
  } catch (e) {
    if ((e as { status?: number }).status === 1) return '';
    throw e;
  }
}

describe('store boundary', () => {
  it('no code outside src/store/ loads BullMQ’s private files', () => {
    expect(grep('bullmq/dist', [...CODE, 'test', ...OUTSIDE, ':!test/store-boundary.int.test.ts'])).toBe('');
  });

  it('no code outside src/store/ names a BullMQ script', () => {
    // Camel-case names only: single words (drain, pause) are ordinary words elsewhere.
    const names = readdirSync(installedScriptsDir())
      .map((f) => f.replace(/-\d+\.js$/, ''))
      .filter((n) => /[A-Z]/.test(n));
    expect(names).toContain('moveToFinished');
    expect(grep(`['"\`](${names.join('|')})['"\`]`, [...CODE, ...OUTSIDE])).toBe('');
  });

  it('no code outside src/store/ reaches BullMQ’s backend or sandbox internals', () => {
    expect(grep('execCommand', [...CODE, ...OUTSIDE])).toBe('');
    expect(
      grep("import .*\\b(ChildPool|ChildCommand|ParentCommand|createRedisBackend|RedisQueueBackend)\\b.* from 'bullmq'", [
        ...CODE,
        'test',
        ...OUTSIDE,
        ':!test/store-boundary.int.test.ts',
      ]),
    ).toBe('');
  });
});
