--[[
  Cancels a queued task: BullMQ's removeJob takes the job out of whichever list holds it
  (waiting, prioritized, delayed) and deletes it; then, when it removed the job, the job's
  fields are written again as a failed job (BullMQ's failed zset, scored by its finish time, as
  moveToFinished scores it) and the task's cancelled outcome goes on the feeds
  (includes/outcome-writes), in the same script: a crash cannot leave a task gone from its queue
  with no final result.

  Input:
    KEYS[1] job             the job's hash
    KEYS[2] repeat          the queue's repeat key (BullMQ's)
    KEYS[3] events          } the outcome's keys (src/store/outcome-writes.ts outcomeKeys)
    KEYS[4] results         }
    KEYS[5] counters        }
    KEYS[6] workflow_inbox  }
    KEYS[7] failed          the queue's failed zset
    ARGV[1] job_id
    ARGV[2] remove_children "0"
    ARGV[3] prefix          the queue's key prefix (BullMQ's)
    ARGV[4] finished_on     ms
    ARGV[5] failed_reason
    ARGV[6..10] the outcome's arguments (outcomeArgv)

  Output (Codes: CancelQueuedCode):
    0  Locked     the task started meanwhile (its pool aborts it): nothing written
    1  Cancelled
  A negative number is BullMQ's removeJob error, and nothing of ours is written.

  Events: "cancelled" (with its result) when cancelled.
]]
--- @include "includes/outcome-writes"
--- @bullmq removeJob as bullRemoveJob

local fields = redis.call('HGETALL', KEYS[1])
local r = bullRemoveJob({KEYS[1], KEYS[2]}, {ARGV[1], ARGV[2], ARGV[3]})
if r == 1 then
  if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
  redis.call('HSET', KEYS[1], 'finishedOn', ARGV[4], 'failedReason', ARGV[5])
  redis.call('ZADD', KEYS[7], ARGV[4], ARGV[1])
  writeOutcome(3, 6)
end
return r
