/**
 * The batch script the slurm executor writes for a command, run by a real sh (so not a fast
 * test): every word is quoted, nothing is expanded. Needs no Slurm.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { commandScript } from '../workers/executors/slurm.js';

describe('slurm executor command script', () => {
  it('quotes every word of a command for sh, so nothing is expanded', () => {
    const argv = ['printf', '%s|', "it's", '$HOME', '`id`', 'a b'];
    const script = commandScript(argv);
    expect(script.startsWith('#!/bin/sh\nexec ')).toBe(true);
    expect(execFileSync('sh', ['-c', script.split('\n')[1]!], { encoding: 'utf8' })).toBe("it's|$HOME|`id`|a b|");
  });
});
