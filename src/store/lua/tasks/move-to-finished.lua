--[[
  BullMQ's moveToFinished for a pool's Worker, with the attempt's final outcome
  (includes/outcome-writes) written only when BullMQ's part finished the job, and the start of
  the next job it fetches (includes/attempt-start). A pool that dies before leaves a task that
  runs again, never one that finished without a result; a run that lost its lock writes nothing.

  Input:
    KEYS[1..14] moveToFinished's keys, in its order (src/store/bullmq/script-layouts.ts);
                KEYS[12] the job's hash
    KEYS[15] events          } the outcome's keys (src/store/outcome-writes.ts outcomeKeys)
    KEYS[16] results         }
    KEYS[17] counters        }
    KEYS[18] workflow_inbox  }
    KEYS[19] cancel          hash task_id -> cancel reason
    ARGV[1..9] moveToFinished's arguments
    ARGV[10] events_maxlen   } the start's
    ARGV[11] class           }
    ARGV[12] pool_id         }
    ARGV[13] has_outcome     "1" when an outcome follows
    ARGV[14..18] the outcome's arguments (outcomeArgv)
    ARGV[19] failure         present for a failure: its JSON (src/errors/task-failure.ts), kept
                             in the job while the job is kept (never recreating a job BullMQ
                             removed on finishing)

  Output:
    moveToFinished's reply: 0, or the next job as a table (with our fields appended, as
    move-to-active's); a negative number is BullMQ's error, and then nothing of ours is written

  Events: the final event (with its result) when an outcome is given; "started" for a next job.
]]
--- @include "includes/outcome-writes"
--- @include "includes/attempt-start"
--- @bullmq moveToFinished as bullmqMoveToFinished

local FAILURE_FIELD = 'orqFailure'

local r = bullmqMoveToFinished(KEYS, ARGV)
if r == 0 or type(r) == 'table' then
  if ARGV[13] == '1' then
    writeOutcome(15, 14)
    local failure = ARGV[19]
    if failure and failure ~= '' and redis.call('EXISTS', KEYS[12]) == 1 then
      redis.call('HSET', KEYS[12], FAILURE_FIELD, failure)
    end
  end
  attemptStart(r, 15, 19, 10)
end
return r
