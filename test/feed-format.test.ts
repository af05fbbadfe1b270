/**
 * Turning raw stream entries into records never throws: what cannot be a record comes back as a
 * marker (undeliverable set), and what is written by our own writers reads back unchanged.
 */
import { describe, expect, it } from 'vitest';
import { eventFields, parseEvent, parseResult, resultFields, type TaskEventRecord, type TaskResultRecord } from '../src/store/codecs/feed-format.js';

const event: TaskEventRecord = { type: 'failed', taskId: 't1', taskClass: 'cpu_short', attempt: 2, atMs: 1_700_000_000_000, workerId: 'p1', detail: 'boom' };
const result: TaskResultRecord = {
  taskId: 't1',
  taskClass: 'cpu_short',
  attempt: 2,
  atMs: 1_700_000_000_000,
  state: 'succeeded',
  resultJson: '{"a":1}',
  durationMs: 12,
};

describe('parseEvent / parseResult', () => {
  it('reads back what the writers write, with no marker', () => {
    expect(parseEvent(eventFields(event), { maxBytes: 1 << 20 })).toEqual({
      ...event,
      workflowId: undefined,
      stepId: undefined,
      state: undefined,
      scheduleId: undefined,
    });
    const r = parseResult(resultFields(result), { maxBytes: 1 << 20 });
    expect(r).toMatchObject(result);
    expect(r.undeliverable).toBeUndefined();
  });

  it('accepts a workflow_run event without a task id', () => {
    const e = parseEvent(['type', 'workflow_run', 'task_id', '', 'class', '', 'attempt', '0', 'at', '5', 'workflow_id', 'run-1', 'state', 'running']);
    expect(e.undeliverable).toBeUndefined();
    expect(e).toMatchObject({ type: 'workflow_run', workflowId: 'run-1', state: 'running' });
  });

  it.each([
    [['task_id', 't', 'class', 'c', 'attempt', '1', 'at', '1'], /type is missing/],
    [['type', 'started', 'class', 'c', 'attempt', '1', 'at', '1'], /task_id is missing/],
    [['type', 'started', 'task_id', 't', 'attempt', '-1', 'at', '1'], /attempt is not an integer/],
    [['type', 'started', 'task_id', 't', 'attempt', '1e3', 'at', '1'], /attempt is not an integer/],
    [['type', 'started', 'task_id', 't', 'attempt', '2147483648', 'at', '1'], /attempt is not an integer from 0 to 2147483647/],
    [['type', 'started', 'task_id', 't', 'attempt', '1', 'at', '99999999999999999999'], /at is not an integer/],
  ])('marks an undecodable event %j', (fields, why) => {
    const e = parseEvent(fields);
    expect(e.undeliverable).toMatch(why);
    expect(e.detail).toBeUndefined();
  });

  it.each([
    [['task_id', 't', 'class', 'c', 'attempt', '1', 'at', '1'], /state is missing/],
    [['task_id', 't', 'state', 'running', 'attempt', '1', 'at', '1'], /state is not succeeded, failed or cancelled/],
    [['class', 'c', 'state', 'failed'], /task_id is missing/],
    [['task_id', 't', 'state', 'failed', 'duration_ms', 'NaN'], /duration_ms is not an integer/],
  ])('marks an undecodable result %j', (fields, why) => {
    const r = parseResult(fields);
    expect(r.undeliverable).toMatch(why);
    expect(r.resultJson).toBeUndefined();
    expect(r.error).toBeUndefined();
  });

  it('marks an entry over maxBytes, keeping only short identifying fields', () => {
    const big = resultFields({ ...result, resultJson: JSON.stringify('x'.repeat(5000)) });
    const r = parseResult(big, { maxBytes: 4096 });
    expect(r).toMatchObject({ taskId: 't1', taskClass: 'cpu_short', attempt: 2, state: 'succeeded' });
    expect(r.resultJson).toBeUndefined();
    expect(r.undeliverable).toMatch(/^entry of \d+ bytes is over the 4096-byte limit of one message$/);
    // Multi-byte text counts in bytes, not characters.
    expect(parseResult(resultFields({ ...result, resultJson: JSON.stringify('é'.repeat(1500)) }), { maxBytes: 3000 }).undeliverable).toMatch(/over/);
    const longId = parseEvent(['type', 'started', 'task_id', 'i'.repeat(5000), 'attempt', '1', 'at', '1'], { maxBytes: 4096 });
    expect(longId.undeliverable).toMatch(/over the 4096-byte limit/);
    expect(longId.taskId).toBe('');
  });
});
