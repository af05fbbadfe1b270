import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { CLUSTER_MAX_REDIRECTIONS, isSlotMovingError, SLOT_MOVE_RETRY_DELAY_MS, SLOT_MOVE_RIDE_OUT_MS } from '../src/redis/slot-moving.js';

const reply = (message: string): Error => new (ReplyError as new (m: string) => Error)(message);

describe('slot moving errors', () => {
  it('knows the replies of a slot being moved, in which Redis ran nothing', () => {
    expect(isSlotMovingError(reply('TRYAGAIN Multiple keys request during rehashing of slot'))).toBe(true);
    expect(isSlotMovingError(reply('ASK 14295 127.0.0.1:42399'))).toBe(true);
    expect(isSlotMovingError(reply('MOVED 14295 127.0.0.1:39687'))).toBe(true);
    // ioredis's own message when its redirection budget ran out (the last reply as it printed it).
    expect(isSlotMovingError(new Error('Too many Cluster redirections. Last error: ReplyError: TRYAGAIN Multiple keys request during rehashing of slot'))).toBe(
      true,
    );
    expect(isSlotMovingError(new Error('Too many Cluster redirections. Last error: ReplyError: MOVED 14295 127.0.0.1:39687'))).toBe(true);
    // A redirected auto-pipeline ioredis would not resend, its slots now on two nodes.
    expect(isSlotMovingError(new Error('All keys in the pipeline should belong to the same slots allocation group'))).toBe(true);
  });

  it('leaves every other error to the caller: a script error, a full Redis, a failover, a closed connection', () => {
    for (const message of [
      'ERR Error running script (call to f_8f86): @user_script:12: something',
      'OOM command not allowed when used memory > maxmemory',
      'CLUSTERDOWN The cluster is down',
      'Too many Cluster redirections. Last error: Error: Connection is closed.',
      'NOSCRIPT No matching script. Please use EVAL.',
      'a message that mentions TRYAGAIN later',
    ])
      expect(isSlotMovingError(reply(message)), message).toBe(false);
    expect(isSlotMovingError('TRYAGAIN')).toBe(false);
    expect(isSlotMovingError(undefined)).toBe(false);
  });

  it("gives ioredis's Cluster a redirection budget that lasts the ride-out: three redirections per retry delay", () => {
    expect(CLUSTER_MAX_REDIRECTIONS * SLOT_MOVE_RETRY_DELAY_MS).toBeGreaterThanOrEqual(3 * SLOT_MOVE_RIDE_OUT_MS);
  });
});
