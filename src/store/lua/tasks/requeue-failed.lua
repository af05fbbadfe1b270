--[[
  Requeues a failed task (RetryTasks): BullMQ's reprocessJob (what Job.retry runs), attempts
  reset; then, when it requeued the job, the job's new data (attemptsBefore,
  src/store/codecs/job-data.ts) and options (the round's attempts), the last round's failure
  dropped, and the "requeued" event. One script, so the event is on the stream before any pool
  can take the job: a reader never sees the rerun's "started" before its "requeued", nor a
  "requeued" for a job that was not requeued.

  Input:
    KEYS[1] job           the job's hash
    KEYS[2] bull_events   the queue's BullMQ events stream
    KEYS[3] failed        } reprocessJob's other keys, in its order:
    KEYS[4] wait          } failed, wait, meta, active, marker,
    KEYS[5] meta          } prioritized, pc
    KEYS[6] active        }
    KEYS[7] marker        }
    KEYS[8] prioritized   }
    KEYS[9] pc            }
    KEYS[10] events       our events stream
    ARGV[1] job_id
    ARGV[2] push_cmd      "LPUSH" ("RPUSH" for a lifo job)
    ARGV[3] prop          "failedReason"
    ARGV[4] prev_state    "failed"
    ARGV[5] reset_attempts_made     "1"
    ARGV[6] reset_attempts_started  "1"
    ARGV[7] data          the job's new data JSON
    ARGV[8] events_maxlen
    ARGV[9] opts          the job's new opts JSON, "" to keep them
    ARGV[10..] the "requeued" event's fields (src/store/codecs/feed-format.ts)

  Output (Codes: RequeueFailedCode):
    1  Requeued
  A negative number is reprocessJob's refusal (-1 no such job, -3 not in the failed set), and
  nothing of ours is written.

  Events: "requeued" when requeued (attempt: the one the task runs next).
]]
--- @bullmq reprocessJob as bullReprocess

local FAILURE_FIELD = 'orqFailure'

local r = bullReprocess({KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]}, {ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]})
if r == 1 then
  redis.call('HSET', KEYS[1], 'data', ARGV[7])
  if ARGV[9] ~= '' then redis.call('HSET', KEYS[1], 'opts', ARGV[9]) end
  redis.call('HDEL', KEYS[1], FAILURE_FIELD)
  redis.call('XADD', KEYS[10], 'MAXLEN', '~', ARGV[8], '*', unpack(ARGV, 10))
end
return r
