/**
 * The feed cursor codec: a cluster's composite cursor (one position per stream) round-trips
 * exactly, a plain entry id is still taken, and hostile cursors are refused as INVALID_ARGUMENT
 * naming the field.
 */
import { describe, expect, it } from 'vitest';
import { CURSOR_VERSION, encodeFeedCursor, maxCursorLength, parseFeedCursor } from '../src/feeds/feed-cursor.js';
import { OrchestratorError } from '../src/errors/errors.js';
import { keys } from '../src/store/keys.js';

const NAMES = new Set(['', 'cpu_short', 'gpu', 'a_very_long_class_name_0123456789']);

function refused(cursor: string, names: ReadonlySet<string> = NAMES): OrchestratorError {
  try {
    parseFeedCursor('cursor', cursor, names);
  } catch (err) {
    expect(err).toBeInstanceOf(OrchestratorError);
    return err as OrchestratorError;
  }
  throw new Error(`${cursor.slice(0, 40)} was taken`);
}

describe('feed cursor', () => {
  it('round-trips every stream position, the largest ids included', () => {
    const positions = new Map([
      ['', '1712345678901-0'],
      ['cpu_short', '1712345678902-17'],
      ['gpu', '0-0'],
      ['a_very_long_class_name_0123456789', '18446744073709551615-18446744073709551615'],
    ]);
    const cursor = encodeFeedCursor(positions);
    expect(cursor.startsWith(CURSOR_VERSION)).toBe(true);
    // Opaque and safe to pass in a URL or a shell argument.
    expect(cursor).toMatch(/^c1\.[A-Za-z0-9_-]+$/);
    expect(cursor.length).toBeLessThanOrEqual(maxCursorLength(NAMES));
    const parsed = parseFeedCursor('cursor', cursor, NAMES);
    expect(parsed).toEqual({ kind: 'per-stream', ids: positions });
  });

  it('takes a plain entry id (every stream from there) and "$"', () => {
    expect(parseFeedCursor('cursor', '0', NAMES)).toEqual({ kind: 'each', id: '0-0' });
    expect(parseFeedCursor('cursor', '1712345678901', NAMES)).toEqual({ kind: 'each', id: '1712345678901-0' });
    expect(parseFeedCursor('cursor', '1712345678901-3', NAMES)).toEqual({ kind: 'each', id: '1712345678901-3' });
    expect(parseFeedCursor('cursor', '$', NAMES)).toEqual({ kind: 'each', id: '$' });
  });

  it('refuses hostile cursors with INVALID_ARGUMENT naming the field', () => {
    const b64 = (s: string) => CURSOR_VERSION + Buffer.from(s).toString('base64url');
    const bad = [
      'yesterday',
      '',
      '-1',
      '1-2-3',
      '99999999999999999999999',
      '18446744073709551616-0',
      'c1.',
      'c1.!!!',
      'c2.' + Buffer.from('gpu=1-0').toString('base64url'),
      b64('gpu=1-0,gpu=2-0'),
      b64('gpu=1'),
      b64('gpu=x-0'),
      b64('GPU=1-0'),
      b64('gpu=1-0,'),
      b64('gpu=18446744073709551616-0'),
      b64('gpu=1-0\ncpu_short=1-0'),
      b64('<script>=1-0'),
    ];
    for (const c of bad) {
      const err = refused(c);
      expect(err.code).toBe('invalid_argument');
      expect(err.field).toBe('cursor');
    }
  });

  it('refuses a cursor naming a class the feed does not have', () => {
    const err = refused(encodeFeedCursor(new Map([['gone', '1-0']])));
    expect(err.message).toMatch(/class "gone"/);
  });

  it('refuses a cursor longer than the feed can need, before decoding it', () => {
    const huge = CURSOR_VERSION + 'A'.repeat(10_000_000);
    const err = refused(huge);
    expect(err.message).toMatch(/characters long/);
    expect(err.message.length).toBeLessThan(200);
  });
});

describe('feed streams', () => {
  it('a single Redis keeps its two streams; a cluster has one of each per class', () => {
    const single = keys('orq');
    expect(single.feedsPerClass).toBe(false);
    expect(single.eventsOf('gpu')).toBe('{orq}:events');
    expect(single.resultsOf('gpu')).toBe('{orq}:results');
    expect(single.eventStreams(['gpu', 'cpu_short'])).toEqual([{ name: '', key: '{orq}:events' }]);
    expect(single.resultStreams(['gpu', 'cpu_short'])).toEqual([{ name: '', key: '{orq}:results' }]);

    const cluster = keys('orq', { cluster: true });
    // Each class's in its own slot (tag {orq:<class>}); the workflow events stay under {orq}.
    expect(cluster.eventsOf('gpu')).toBe('{orq:gpu}:events:gpu');
    expect(cluster.resultsOf('gpu')).toBe('{orq:gpu}:results:gpu');
    expect(cluster.workflowEvents).toBe('{orq}:events');
    expect(cluster.eventStreams(['gpu', 'cpu_short']).map((s) => s.key)).toEqual(['{orq}:events', '{orq:gpu}:events:gpu', '{orq:cpu_short}:events:cpu_short']);
    expect(cluster.resultStreams(['gpu']).map((s) => s.key)).toEqual(['{orq:gpu}:results:gpu']);
  });
});
