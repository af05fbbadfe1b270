--[[
  BullMQ's moveToFinished for a pool's Worker, with the attempt's final outcome
  (includes/outcome-writes) written only when BullMQ's part finished the job, and the start of
  the next job it fetches (includes/attempt-start). BullMQ's part is told not to fetch (ARGV[6]
  set to "0"): the next job is taken after it by includes/take-next-job, prioritized tasks first
  (as move-to-active). A pool that dies before leaves a task that
  runs again, never one that finished without a result; a run that lost its lock writes nothing.

  Input:
    KEYS[1..14] moveToFinished's keys, in its order (src/store/bullmq/script-layouts.ts);
                KEYS[12] the job's hash; the next job's take reads KEYS[1] wait, KEYS[2] active,
                KEYS[3] prioritized, KEYS[4] BullMQ's events, KEYS[6] rate limiter,
                KEYS[7] delayed, KEYS[9] meta, KEYS[10] pc, KEYS[14] marker
    KEYS[15] events          } the outcome's keys (src/store/outcome-writes.ts outcomeKeys)
    KEYS[16] results         }
    KEYS[17] counters        }
    KEYS[18] workflow_inbox  }
    KEYS[19] cancel          hash task_id -> cancel reason
    KEYS[20..28]             a step section's run keys, when the caller sends one (the key
                             count goes with the call: 19, or 28): not used here
    ARGV[1..9] moveToFinished's arguments; ARGV[2] timestamp, ARGV[6] fetch next ("1"),
               ARGV[7] key prefix, ARGV[8] opts
    ARGV[10] events_maxlen   } the start's
    ARGV[11] class           }
    ARGV[12] pool_id         }
    ARGV[13] has_outcome     "1" when an outcome follows
    ARGV[14..18] the outcome's arguments (outcomeArgv)
    ARGV[19] failure         present for a failure: its JSON (src/errors/task-failure.ts), kept
                             in the job while the job is kept (never recreating a job BullMQ
                             removed on finishing); "" before a step section
    ARGV[20..23]             a step section (tasks/finish-plain-job): not used here

  A step section (a workflow step's success whose releases the run may have staged) is applied
  only by tasks/finish-plain-job; here the outcome goes to the workflow inbox as always, and the
  engine applies it. A step task's finish comes here only when finish-plain-job answers
  NeedsFull (a job with a parent, children or a deduplication id, which the engine never gives a
  step's task) or the Worker's options do not keep jobs (a pool's always do), so the fast path
  loses nothing; and this script stays free of the workflow event fragments, which would be a
  second builder of event fields next to includes/task-event (test/task-scripts.test.ts).

  Output:
    moveToFinished's reply: 0, or the next job as a table (with our fields appended, as
    move-to-active's); a negative number is BullMQ's error, and then nothing of ours is written

  Events: the final event (with its result) when an outcome is given; "started" for a next job.
]]
--- @include "includes/outcome-writes"
--- @include "includes/attempt-start"
--- @include "includes/take-next-job"
--- @bullmq moveToFinished as bullmqMoveToFinished

local FAILURE_FIELD = 'orqFailure'

local fetchNext = ARGV[6] == '1'
ARGV[6] = '0'
local r = bullmqMoveToFinished(KEYS, ARGV)
if r == 0 and fetchNext then
  r = takeNextJob(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6], KEYS[7], KEYS[9], KEYS[10], KEYS[14], ARGV[7], ARGV[2],
    cmsgpack.unpack(ARGV[8])) or 0
end
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
