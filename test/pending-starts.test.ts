/**
 * PendingStarts (src/store/bullmq/task-backend.ts): what the script that handed a job over found,
 * held for the processor, and a cancel that arrives in between. A pool that took a task (its
 * "started" event written, so a caller sees it running) has no signal to abort until BullMQ gives
 * the job to the processor; a cancel message in that gap must reach the processor's start rather
 * than be dropped (workers/worker-pool.ts).
 */
import { describe, expect, it } from 'vitest';
import { CANCEL_FIELD, PendingStarts, STARTED_FIELD } from '../src/store/bullmq/task-backend.js';

/** A take's reply as the scripts return it: the job's fields with ours appended, and its id. */
const reply = (id: string, ...ours: string[]) => [['name', 'handler:echo', 'data', '{}', ...ours], id, 0, 0];

describe('PendingStarts', () => {
  it('hands the processor a cancel that came between the take and its start', () => {
    const starts = new PendingStarts();
    const r = reply('t1', STARTED_FIELD, '1');
    starts.fromReply(r);
    // Our fields are taken off before BullMQ reads the job.
    expect(r[0]).toEqual(['name', 'handler:echo', 'data', '{}']);
    expect(starts.cancelPending('t1', 'stop it')).toBe(true);
    expect(starts.take('t1')).toEqual({ cancelReason: 'stop it' });
    // Taken once: a second start of the same id does not see it again.
    expect(starts.take('t1')).toBeUndefined();
  });

  it('keeps the cancel the script found, and ignores tasks it did not hand over', () => {
    const starts = new PendingStarts();
    starts.fromReply(reply('t2', STARTED_FIELD, '1', CANCEL_FIELD, 'while it waited'));
    expect(starts.cancelPending('t2', 'later')).toBe(true);
    expect(starts.take('t2')).toEqual({ cancelReason: 'while it waited' });
    expect(starts.cancelPending('elsewhere', 'stop')).toBe(false);
    expect(starts.take('elsewhere')).toBeUndefined();
  });
});
