/**
 * The BullMQ start-up guard (src/store/bullmq/startup-guard.ts): the installed BullMQ matches the
 * layout our scripts were written for, and a script whose keys are reordered without changing
 * their count (what a count-only check misses) is refused with a message naming the script,
 * what was expected and found, and the README's upgrade section.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BullmqScriptsMismatchError,
  assertBullmqScripts,
  checkBullmqFragments,
  checkBullmqScripts,
  installedFragmentsDir,
  installedScriptsDir,
} from '../src/store/bullmq/startup-guard.js';
import { BULLMQ_SCRIPT_LAYOUTS } from '../src/store/bullmq/script-layouts.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A copy of the installed scripts our table names, with `edit` applied to `script`'s file. */
function fixture(script: string, edit: (text: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), 'orq-bullmq-scripts-'));
  dirs.push(dir);
  const src = installedScriptsDir();
  for (const f of readdirSync(src)) {
    const name = f.replace(/-\d+\.js$/, '');
    if (!(name in BULLMQ_SCRIPT_LAYOUTS)) continue;
    if (name === script) writeFileSync(join(dir, f), edit(readFileSync(join(src, f), 'utf8')));
    else copyFileSync(join(src, f), join(dir, f));
  }
  return dir;
}

describe('BullMQ start-up guard', () => {
  it('passes against the installed BullMQ', () => {
    expect(checkBullmqScripts()).toEqual([]);
    expect(() => assertBullmqScripts()).not.toThrow();
  });

  it('refuses a script with two keys swapped (same key count)', () => {
    const dir = fixture('moveToActive', (text) =>
      text
        .replace('KEYS[2] active key', 'KEYS[2] @@')
        .replace('KEYS[3] prioritized key', 'KEYS[3] active key')
        .replace('KEYS[2] @@', 'KEYS[2] prioritized key'),
    );
    const mismatches = checkBullmqScripts(dir);
    expect(mismatches).toHaveLength(1);
    expect(mismatches[0]).toMatchObject({ script: 'moveToActive', what: 'keys' });
    let error: unknown;
    try {
      assertBullmqScripts(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BullmqScriptsMismatchError);
    const message = (error as Error).message;
    expect(message).toContain('moveToActive: keys expected [1:wait key, 2:active key, 3:prioritized key,');
    expect(message).toContain('found [1:wait key, 2:prioritized key, 3:active key,');
    expect(message).toContain('refusing to start');
    expect(message).toContain('README "Upgrading BullMQ"');
  });

  it('refuses a changed argument layout and a changed key count', () => {
    const args = fixture('retryJob', (text) => text.replace(/ARGV\[4\](\s+)jobId\n(\s+)ARGV\[5\](\s+)token/, 'ARGV[4]$1token\n$2ARGV[5]$3jobId'));
    expect(checkBullmqScripts(args)).toEqual([expect.objectContaining({ script: 'retryJob', what: 'args' })]);
    const count = fixture('removeJob', (text) => text.replace(/keys: 2,/, 'keys: 3,'));
    expect(checkBullmqScripts(count)).toEqual([expect.objectContaining({ script: 'removeJob', what: 'key count', expected: '2', found: '3' })]);
  });

  it('refuses a BullMQ without one of the scripts', () => {
    const dir = fixture('removeJob', (t) => t);
    for (const f of readdirSync(dir)) if (f.startsWith('removeJob-')) rmSync(join(dir, f));
    expect(checkBullmqScripts(dir)).toEqual([expect.objectContaining({ script: 'removeJob', what: 'missing' })]);
  });

  it('refuses a fragment our scripts call whose parameters changed, or that is gone', () => {
    // The includes our take of the next job and our add are built from (BULLMQ_FRAGMENTS).
    const dir = mkdtempSync(join(tmpdir(), 'orq-bullmq-includes-'));
    dirs.push(dir);
    for (const f of readdirSync(installedFragmentsDir())) copyFileSync(join(installedFragmentsDir(), f), join(dir, f));
    expect(checkBullmqFragments(dir)).toEqual([]);
    const meta = join(dir, 'getQueueMetadata.lua');
    writeFileSync(meta, readFileSync(meta, 'utf8').replace('(queueMetaKey, activeKey, waitKey)', '(queueMetaKey, waitKey, activeKey)'));
    rmSync(join(dir, 'storeJob.lua'));
    expect(checkBullmqFragments(dir)).toEqual([
      expect.objectContaining({ script: 'includes/getQueueMetadata', what: 'params', found: '1:queueMetaKey, 2:waitKey, 3:activeKey' }),
      expect.objectContaining({ script: 'includes/storeJob', what: 'missing' }),
    ]);
    expect(() => assertBullmqScripts(undefined, dir)).toThrow(/includes\/getQueueMetadata: params expected \[1:queueMetaKey, 2:activeKey, 3:waitKey\]/);
  });
});
