--[[
  move-to-finished's fast path: BullMQ's moveToFinished rebuilt from BullMQ's own fragments for
  the job a task's run finishes nearly always (no parent, no deduplication id, kept when finished,
  no metrics), with the attempt's final outcome (includes/outcome-writes) and the start of the next
  job it fetches (includes/attempt-start), as move-to-finished writes them. A script the size of
  what it runs: BullMQ's whole moveToFinished (~56 KB of Lua with its parent, deduplication,
  retention and metrics code) costs ~6.5 µs per call to define its functions alone.

  The caller (src/store/bullmq/task-backend.ts) sends here only a finish whose worker options keep
  the job (keepJobs count -1, no age) and collect no metrics; this script answers NeedsFull,
  having written nothing, for a job with a parent, children or a deduplication id, and the caller runs
  move-to-finished (BullMQ's whole script) with the same keys and arguments.

  Everything else is BullMQ's moveToFinished, in its order: the job must exist and hold the
  caller's lock; the lock is released, the job's fields
  updated, the job taken off the active list, BullMQ's events trimmed, attemptsMade counted, the
  job added to the completed / failed set with its return value / failed reason and finishedOn,
  its "completed" / "failed" event (and "retries-exhausted") written; then the next job is taken
  (includes/take-next-job, prioritized tasks first, as move-to-finished), and with none BullMQ's
  "drained" event when the queue is empty.

  With a step section, once BullMQ's part finished the job: when the run staged the step's
  releases and they apply now (includes/staged-step), the outcome is recorded and the staged
  dependents' tasks added and their steps queued here, as workflows/step-done does, before the
  next job is taken (so a dependent of this class can be that job), and the outcome goes to the
  feeds but not to the workflow inbox; otherwise the inbox entry is written as without one.

  Input:
    KEYS[1..14] moveToFinished's keys, in its order (src/store/bullmq/script-layouts.ts);
                KEYS[1] wait, KEYS[2] active, KEYS[3] prioritized, KEYS[4] BullMQ's events,
                KEYS[5] stalled, KEYS[6] rate limiter, KEYS[7] delayed, KEYS[9] meta,
                KEYS[10] pc, KEYS[11] completed / failed, KEYS[12] the job's hash,
                KEYS[14] marker (KEYS[8] paused and KEYS[13] metrics are not used)
    KEYS[15] events          } the outcome's keys (src/store/outcome-writes.ts outcomeKeys)
    KEYS[16] results         }
    KEYS[17] counters        }
    KEYS[18] workflow_inbox  }
    KEYS[19] cancel          hash task_id -> cancel reason
    KEYS[20..28] the step section's (optional; a step's success on a single Redis, sent by
                 the caller with ARGV[20..23]): the run's keys, in includes/run-args's order
                 (run, steps, deps, outcomes, events, active runs, releasing, run index,
                 staged). The keys of the tasks a staged record adds are named in the record
                 (includes/staged-step says why they cannot be KEYS here). The key count is
                 sent with the call: 19, or 28 with a step section.
    ARGV[1..9] moveToFinished's arguments; ARGV[1] job id, ARGV[2] timestamp, ARGV[3] the
               field ("returnvalue" / "failedReason"), ARGV[4] its value, ARGV[5] target
               ("completed" / "failed"), ARGV[6] fetch next ("1"), ARGV[7] key prefix,
               ARGV[8] opts (msgpack: token, attempts, ...), ARGV[9] job fields to update
    ARGV[10] events_maxlen   } the start's
    ARGV[11] class           }
    ARGV[12] pool_id         }
    ARGV[13] has_outcome     "1" when an outcome follows
    ARGV[14..18] the outcome's arguments (outcomeArgv)
    ARGV[19] failure         present for a failure: its JSON (src/errors/task-failure.ts), kept
                             in the job; "" before a step section
    ARGV[20] run_id          } the step section (optional): the task is step step_id of run
    ARGV[21] step_id         } run_id and succeeded; outcome: its JSON as the engine stores it
    ARGV[22] attempt         } in the run's outcomes hash (src/store/codecs/step-outcome.ts)
    ARGV[23] outcome         }

  Output (Codes: FinishPlainJobCode):
    1  NeedsFull  the job has a parent, children or a deduplication id: nothing written
  Otherwise moveToFinished's reply: 0, or the next job as a table (with our fields appended, as
  move-to-active's); a negative number is BullMQ's error, and then nothing of ours is written.

  Events: BullMQ's "completed" / "failed" (and "retries-exhausted", "drained"); ours: the final
  event (with its result) when an outcome is given, a staged step's (workflow_step succeeded,
  then per dependent its task's "submitted" and workflow_step queued), "started" for a next job.
]]
local rcall = redis.call
--- @bullmq-fragment removeLock
--- @bullmq-fragment updateJobFields
--- @bullmq-fragment getOrSetMaxEvents
--- @include "includes/outcome-writes"
--- @include "includes/attempt-start"
--- @include "includes/take-next-job"
--- @include "includes/staged-step"

local NEEDS_FULL = 1
local FAILURE_FIELD = 'orqFailure'

local jobKey, jobId, timestamp, target = KEYS[12], ARGV[1], ARGV[2], ARGV[5]

local function finish()
  -- BullMQ's EXISTS of the job, folded into the read of its fields: every job has a timestamp, and
  -- only a hash without one (a removed job's leftover) takes the EXISTS.
  local attrs = rcall('HMGET', jobKey, 'parentKey', 'parent', 'deid', 'atm', 'timestamp')
  if not attrs[5] and rcall('EXISTS', jobKey) ~= 1 then return -1 end
  -- A job with children (pending or failed): BullMQ's whole script answers -4 or -9. A set or zset
  -- exists only while not empty, so one EXISTS stands for BullMQ's SCARD and ZCARD.
  if target == 'completed' and rcall('EXISTS', jobKey .. ':dependencies', jobKey .. ':unsuccessful') > 0 then return NEEDS_FULL end
  -- Read before anything is written (above; BullMQ reads them after the lock): a job that needs
  -- BullMQ's parent or deduplication handling goes to the whole script untouched. attemptsMade is
  -- read there too and written with the finish's fields (BullMQ's HINCRBY, one call fewer).
  if attrs[1] or attrs[2] or attrs[3] then return NEEDS_FULL end
  local opts = cmsgpack.unpack(ARGV[8])
  local errorCode = removeLock(jobKey, KEYS[5], opts['token'], jobId)
  if errorCode < 0 then return errorCode end
  updateJobFields(jobKey, ARGV[9])
  if rcall('LREM', KEYS[2], -1, jobId) < 1 then return -3 end
  -- BullMQ's trimEvents (an XTRIM to the queue's maxLenEvents before the event) done by the event's
  -- own XADD (MAXLEN ~ after it): the same bound, one call fewer.
  local maxEvents = getOrSetMaxEvents(KEYS[9])
  -- BullMQ's fields to update (ARGV[9]: failedReason, stacktrace, tm) never hold atm; were they to,
  -- the count is taken after them, as BullMQ takes it.
  local attemptsMade = (tonumber(attrs[4]) or 0) + 1
  if ARGV[9] and string.find(ARGV[9], 'atm', 1, true) then attemptsMade = rcall('HINCRBY', jobKey, 'atm', 1) end
  rcall('ZADD', KEYS[11], timestamp, jobId)
  local failure = ARGV[13] == '1' and ARGV[19] or nil
  if failure and failure ~= '' then
    rcall('HSET', jobKey, 'atm', string.format('%d', attemptsMade), ARGV[3], ARGV[4], 'finishedOn', timestamp, FAILURE_FIELD, failure)
  else
    rcall('HSET', jobKey, 'atm', string.format('%d', attemptsMade), ARGV[3], ARGV[4], 'finishedOn', timestamp)
  end
  if target == 'failed' then rcall('HDEL', jobKey, 'defa') end
  rcall('XADD', KEYS[4], 'MAXLEN', '~', maxEvents, '*', 'event', target, 'jobId', jobId, ARGV[3], ARGV[4], 'prev', 'active')
  if target == 'failed' and tonumber(attemptsMade) >= tonumber(opts['attempts']) then
    rcall('XADD', KEYS[4], '*', 'event', 'retries-exhausted', 'jobId', jobId, 'attemptsMade', attemptsMade)
  end
  return 0, opts
end

-- The next job, after the finish (and a staged step's tasks, which it may be): BullMQ's take,
-- with its "drained" when the queue is empty.
local function takeNext(opts)
  if ARGV[6] == '1' then
    local taken = takeNextJob(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6], KEYS[7], KEYS[9], KEYS[10], KEYS[14], ARGV[7],
      timestamp, opts)
    if taken then return taken end
  end
  if rcall('LLEN', KEYS[1]) == 0 and rcall('LLEN', KEYS[2]) == 0 and rcall('ZCARD', KEYS[3]) == 0 then
    rcall('XADD', KEYS[4], '*', 'event', 'drained')
  end
  return 0
end

-- A staged step is looked up (reads only) before anything is written: whatever it finds, the
-- finish below never stops halfway on it.
local staged, runKeys, applyStaged
if ARGV[13] == '1' and ARGV[20] then
  local stagedStep
  stagedStep, applyStaged = stagedStepFunctions()
  runKeys = {unpack(KEYS, 20, 28)}
  staged = stagedStep(runKeys, ARGV[21])
end
local r, opts = finish()
if r == 0 then
  if ARGV[13] == '1' then writeOutcome(15, 14, staged ~= nil) end
  if staged then applyStaged(runKeys, KEYS[18], staged, ARGV[20], ARGV[21], ARGV[22], ARGV[23], timestamp) end
  r = takeNext(opts)
  -- A staged dependent of this class was taken right here: the marker its add set (member "0",
  -- BullMQ's "a job waits") would only wake a blocked fetcher to find nothing, one wasted
  -- move-to-active per chained step. Removed when no job waits (a delayed job's marker is member
  -- "1", left alone).
  if staged and type(r) == 'table' and rcall('LLEN', KEYS[1]) == 0 and rcall('ZCARD', KEYS[3]) == 0 then
    rcall('ZREM', KEYS[14], '0')
  end
  attemptStart(r, 15, 19, 10)
end
return r
