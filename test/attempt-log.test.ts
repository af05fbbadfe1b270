/**
 * The capture of one attempt's output (workers/attempt-log.ts) without Redis: line splitting
 * across chunks and UTF-8 sequences, the per-attempt bounds (head, dropped note, tail), the cut
 * of an endless line, and batching (one write per flush, none for a silent attempt).
 */
import { describe, expect, it } from 'vitest';
import { AttemptLog, type AttemptLogLimits } from '../workers/attempt-log.js';
import { parseLogLine, type TaskLogLine } from '../src/tasks/task-log-format.js';

const LIMITS: AttemptLogLimits = { maxLinesPerAttempt: 1000, maxBytesPerAttempt: 1 << 20, maxLineBytes: 100, flushIntervalMs: 10_000 };

function capture(limits: Partial<AttemptLogLimits> = {}) {
  const batches: string[][] = [];
  const log = new AttemptLog(
    2,
    { ...LIMITS, ...limits },
    async (entries) => void batches.push(entries),
    (err) => {
      throw err;
    },
  );
  const lines = (): TaskLogLine[] => batches.flat().map((e) => parseLogLine(e, 0));
  return { log, batches, lines };
}

describe('AttemptLog', () => {
  it('splits chunks into lines per stream, holding a partial line and a split UTF-8 character until they end', async () => {
    const { log, lines } = capture();
    const euro = Buffer.from('€');
    log.write('stdout', Buffer.from('one\ntw'));
    log.write('stderr', Buffer.from('err\r\n'));
    log.write('stdout', Buffer.concat([Buffer.from('o '), euro.subarray(0, 1)]));
    log.write('stdout', Buffer.concat([euro.subarray(1), Buffer.from('\nunended')]));
    log.line('log', 'a\nb');
    await log.close();
    const got = lines().map((l) => `${l.attempt} ${l.stream} ${l.text}`);
    expect(got).toEqual(['2 stdout one', '2 stderr err', '2 stdout two €', '2 log a', '2 log b', '2 stdout unended']);
  });

  it('writes nothing at all for an attempt that printed nothing', async () => {
    const { log, batches } = capture();
    await log.close();
    expect(batches).toEqual([]);
  });

  it('sends the lines of one burst as one batch', async () => {
    const { log, batches } = capture();
    for (let i = 0; i < 50; i++) log.write('stdout', `line ${i}\n`);
    await log.close();
    expect(batches).toHaveLength(1);
    expect(batches[0]).toHaveLength(50);
  });

  it('keeps the first and last halves of the line budget and notes the dropped lines between them', async () => {
    const { log, lines } = capture({ maxLinesPerAttempt: 6 });
    for (let i = 1; i <= 100; i++) log.write('stdout', `${i}\n`);
    await log.close();
    const texts = lines().map((l) => l.text);
    expect(texts.slice(0, 3)).toEqual(['1', '2', '3']);
    expect(texts[3]).toMatch(/^\.\.\. 94 lines dropped/);
    expect(lines()[3]!.stream).toBe('system');
    expect(texts.slice(4)).toEqual(['98', '99', '100']);
  });

  it('bounds the bytes as stored, whatever the line count', async () => {
    const { log, batches } = capture({ maxBytesPerAttempt: 4096, maxLineBytes: 100 });
    for (let i = 0; i < 1000; i++) log.write('stdout', `${'x'.repeat(90)}\n`);
    await log.close();
    const stored = batches.flat();
    const note = stored.findIndex((e) => e.includes('lines dropped'));
    expect(note).toBeGreaterThan(0);
    const bytes = stored.filter((_, i) => i !== note).reduce((n, e) => n + Buffer.byteLength(e), 0);
    expect(bytes).toBeLessThanOrEqual(4096);
  });

  it('cuts a line over maxLineBytes and skips the rest of it up to its newline, even when it never ends', async () => {
    const { log, lines } = capture({ maxLineBytes: 100 });
    log.write('stdout', 'y'.repeat(70));
    log.write('stdout', 'y'.repeat(70));
    for (let i = 0; i < 100; i++) log.write('stdout', 'z'.repeat(1000));
    log.write('stdout', 'zzz\nnext\n');
    await log.close();
    const got = lines();
    expect(got).toHaveLength(2);
    expect(got[0]!.text).toBe(`${'y'.repeat(100)} [cut]`);
    expect(got[1]!.text).toBe('next');
  });

  it('never rejects when the store fails, and reports the failure', async () => {
    const errors: unknown[] = [];
    const log = new AttemptLog(
      1,
      LIMITS,
      () => Promise.reject(new Error('redis down')),
      (err) => errors.push(err),
    );
    log.write('stderr', 'lost\n');
    await expect(log.close()).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
  });
});

describe('AttemptLog.close with a store that never answers', () => {
  it('gives up waiting after its bound instead of holding the attempt back', async () => {
    const log = new AttemptLog(
      1,
      LIMITS,
      () => new Promise(() => undefined),
      () => undefined,
    );
    log.write('stdout', 'stuck\n');
    const started = Date.now();
    await log.close();
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
