import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { repeatLimited } from '../src/logging/repeat-limiter.js';

afterEach(() => vi.useRealTimers());

describe('repeatLimited', () => {
  it('logs the first failure, then at most one per interval with how many were left out', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const failed = repeatLimited(log, 'warn', 30_000);
    for (let i = 0; i < 60; i++) {
      failed(new Error('connect ECONNREFUSED'), 'sweep failed');
      vi.advanceTimersByTime(1_000);
    }
    // 60 failures over 60 s: at 0 s, at 30 s (29 left out), none at 59 s yet.
    expect(lines.map((l) => [l.msg, l.level, l.repeatsNotLogged])).toEqual([
      ['sweep failed', 40, undefined],
      ['sweep failed', 40, 29],
    ]);
    expect((lines[0]!.err as { message: string }).message).toBe('connect ECONNREFUSED');
  });
});
