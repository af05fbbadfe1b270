/**
 * The submit token buckets (src/grpc/submit-rate-limit.ts) on a clock the test moves: a burst
 * then refusals with the wait until enough refills, batches counted as their tasks, overrides
 * per caller, and a map of buckets that stays bounded (idle ones dropped, the least recently
 * used beyond the cap).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_MANAGER_ROLES, GRPC_ROLES } from '../src/auth/roles.js';
import { readTokensFile } from '../src/auth/token-set.js';
import { SubmitRateLimiter } from '../src/grpc/submit-rate-limit.js';

function limiter(opts: { perSecond: number; burst: number; maxBuckets?: number; overrides?: [string, { perSecond: number; burst: number }][] }) {
  let now = 1_000_000;
  const l = new SubmitRateLimiter({
    limit: { perSecond: opts.perSecond, burst: opts.burst },
    overrides: new Map(opts.overrides ?? []),
    maxBuckets: opts.maxBuckets,
    now: () => now,
  });
  return { l, advance: (ms: number) => (now += ms) };
}

describe('submit rate limiter', () => {
  it('lets a burst through, then refuses with the time until the tasks asked for have refilled', () => {
    const { l, advance } = limiter({ perSecond: 10, burst: 20 });
    expect(l.take('a', 15)).toEqual({ ok: true });
    expect(l.take('a', 5)).toEqual({ ok: true });
    expect(l.take('a', 1)).toEqual({ ok: false, tooLarge: false, retryAfterMs: 100 });
    expect(l.take('a', 10)).toEqual({ ok: false, tooLarge: false, retryAfterMs: 1000 });
    advance(999);
    expect(l.take('a', 10)).toMatchObject({ ok: false });
    advance(1);
    expect(l.take('a', 10)).toEqual({ ok: true });
    // Never more than the burst, however long the wait.
    advance(3_600_000);
    expect(l.take('a', 20)).toEqual({ ok: true });
    expect(l.take('a', 1)).toMatchObject({ ok: false });
  });

  it('refuses for good a call larger than the burst, and lets anything through when perSecond is 0', () => {
    expect(limiter({ perSecond: 10, burst: 20 }).l.take('a', 21)).toEqual({ ok: false, tooLarge: true });
    const off = limiter({ perSecond: 0, burst: 1 }).l;
    for (let i = 0; i < 5; i++) expect(off.take('a', 1_000)).toEqual({ ok: true });
    expect(off.size).toBe(0);
  });

  it('keeps callers apart, and an override is that caller only', () => {
    const { l } = limiter({ perSecond: 1, burst: 2, overrides: [['token:fast', { perSecond: 100, burst: 50 }]] });
    expect(l.take('a', 2)).toEqual({ ok: true });
    expect(l.take('a', 1)).toMatchObject({ ok: false });
    expect(l.take('b', 2)).toEqual({ ok: true });
    expect(l.take('token:fast', 50)).toEqual({ ok: true });
    expect(l.take('token:fast', 1)).toEqual({ ok: false, tooLarge: false, retryAfterMs: 10 });
  });

  it('drops idle buckets and caps how many it holds', () => {
    const { l, advance } = limiter({ perSecond: 100, burst: 100, maxBuckets: 1_000 });
    for (let i = 0; i < 5_000; i++) l.take(`peer:${i}`, 1);
    expect(l.size).toBe(1_000);
    // The most recently used stayed: its bucket is short of one task.
    expect(l.take('peer:4999', 100)).toMatchObject({ ok: false });
    // Past the sweep period every bucket has refilled: they go at the next take.
    advance(11_000);
    l.take('z', 1);
    expect(l.size).toBe(1);
  });
});

describe("a token's own submit rate in a tokens file", () => {
  const TOKEN = '0123456789abcdef-token';
  const file = (text: string) => {
    const f = join(mkdtempSync(join(tmpdir(), 'orq-tokens-')), 'tokens');
    writeFileSync(f, text);
    return f;
  };
  const grpc = { roles: GRPC_ROLES, classes: true };

  it('reads submitRateLimit=PER_SECOND/BURST, with or without classes', () => {
    expect(readTokensFile(file(`${TOKEN} submit submitRateLimit=500/5000\n${TOKEN}b submit classes=gpu submitRateLimit=0.5/10\n`), grpc)).toEqual([
      { token: TOKEN, role: 'submit', submitRateLimit: { perSecond: 500, burst: 5000 } },
      { token: `${TOKEN}b`, role: 'submit', classes: ['gpu'], submitRateLimit: { perSecond: 0.5, burst: 10 } },
    ]);
  });

  it('refuses a malformed one naming the line, and any on the env-manager', () => {
    expect(() => readTokensFile(file(`${TOKEN} submit submitRateLimit=fast\n`), grpc)).toThrow(/line 1: submitRateLimit= takes PER_SECOND\/BURST/);
    expect(() => readTokensFile(file(`${TOKEN} submit submitRateLimit=5/0\n`), grpc)).toThrow(/line 1: submitRateLimit= takes PER_SECOND\/BURST/);
    expect(() => readTokensFile(file(`${TOKEN} submit submitRateLimit=5/5 submitRateLimit=6/6\n`), grpc)).toThrow(/line 1: unexpected "submitRateLimit=6\/6"/);
    expect(() => readTokensFile(file(`${TOKEN} read submitRateLimit=5/5\n`), { roles: ENV_MANAGER_ROLES, classes: false })).toThrow(
      /line 1: unexpected "submitRateLimit=5\/5"/,
    );
  });
});
