/**
 * The feed audit the chaos soak relies on (test/helpers/feed-audit.ts): it must pass the
 * lifecycles the README allows and name each one it forbids, or the soak proves nothing.
 */
import { describe, expect, it } from 'vitest';
import { byTask, duplicateResults, lifecycleViolations, type FeedEntry } from './helpers/feed-audit.js';

let seq = 0;
/** Events of task `t`, written as "type@attempt" or "type@attempt:detail". */
function events(t: string, ...specs: string[]): FeedEntry[] {
  return specs.map((spec) => {
    const colon = spec.indexOf(':');
    const [head, detail] = colon < 0 ? [spec, undefined] : [spec.slice(0, colon), spec.slice(colon + 1)];
    const [type, attempt] = head.split('@') as [string, string];
    return { id: `${++seq}-0`, f: { type, task_id: t, attempt, at: String(seq), ...(detail ? { detail } : {}) } };
  });
}

const whyOf = (...specs: string[]) => lifecycleViolations(byTask(events('t', ...specs))).map((v) => v.why);

describe('lifecycleViolations', () => {
  it('passes what the feeds may show', () => {
    expect(whyOf('submitted@0', 'started@1', 'progress@1', 'succeeded@1')).toEqual([]);
    // A pool killed mid-run; one that died between taking the job and writing `started`.
    expect(whyOf('submitted@0', 'started@1', 'stalled@1', 'started@1', 'succeeded@1')).toEqual([]);
    expect(whyOf('submitted@0', 'stalled@1', 'started@1', 'succeeded@1')).toEqual([]);
    // A failed attempt retried, and a hand-back on shutdown, which uses no attempt.
    expect(whyOf('submitted@0', 'started@1', 'retrying@1:boom', 'started@2', 'failed@2')).toEqual([]);
    expect(whyOf('submitted@0', 'started@1', 'retrying@1:handed back: pool shutting down', 'started@1', 'succeeded@1')).toEqual([]);
    expect(whyOf('submitted@0', 'cancelled@0')).toEqual([]);
  });

  it('names the lifecycles a lost lock produces', () => {
    // The rerun's start on the stream before the stall that caused it.
    expect(whyOf('submitted@0', 'started@1', 'started@1', 'stalled@1', 'succeeded@1')).toEqual([
      'started while running (no stalled or retrying since the last start)',
    ]);
    // A stall, or a stale run's retrying, after the final outcome.
    expect(whyOf('submitted@0', 'started@1', 'stalled@1', 'started@1', 'succeeded@1', 'stalled@1')).toEqual(['stalled after the final event']);
    expect(whyOf('submitted@0', 'started@1', 'succeeded@1', 'retrying@1:late')).toEqual(['retrying after the final event']);
    // A failure written by a run whose move to the next attempt was refused.
    expect(whyOf('submitted@0', 'started@1', 'retrying@1:boom', 'started@1', 'succeeded@1')).toEqual([
      'attempt 1 started again after its retrying event (a retry written by a run whose move was refused)',
    ]);
    expect(whyOf('submitted@0', 'started@1', 'stalled@1', 'succeeded@1')).toEqual(['succeeded with no run started']);
    expect(whyOf('submitted@0', 'started@1', 'succeeded@1', 'failed@1')).toEqual(['failed after the final event']);
  });
});

describe('duplicateResults', () => {
  it('names a task with two final outcomes, not one with one', () => {
    const results = byTask([
      { id: '1-0', f: { task_id: 'a', state: 'succeeded', attempt: '1', worker: 'p1' } },
      { id: '2-0', f: { task_id: 'b', state: 'succeeded', attempt: '1', worker: 'p1' } },
      { id: '3-0', f: { task_id: 'a', state: 'succeeded', attempt: '1', worker: 'p2' } },
    ]);
    expect(duplicateResults(results)).toEqual([{ taskId: 'a', outcomes: ['succeeded@1 by p1 (1-0)', 'succeeded@1 by p2 (3-0)'] }]);
  });
});
