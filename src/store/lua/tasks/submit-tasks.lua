--[[
  Claims a batch of task ids in the cross-class index, records their submission and adds their
  jobs, all or nothing: when any id is already taken with different content nothing is written.
  A claimed task gets a "submitted" event, counts in counters "submitted:<class>", enters its
  class's task list scored by Redis's clock (one clock for every orchestrator, so a page cursor
  is never passed by a later submission), and its job is added by BullMQ's own addStandardJob
  (to the wait list, for a task of priority 0: its job options carry no priority or 0),
  addPrioritizedJob (any other priority) or addDelayedJob (a delay) run in this script (the
  pools take prioritized jobs first: includes/take-next-job): the job is in its queue
  exactly when its id is claimed. A claimed schedule tick becomes its schedule's last tick
  (includes/schedule-tick); a workflow step's task is created only while its step is releasing
  (includes/step-releasing).

  Input:
    KEYS[1] tasks           hash task_id -> "<class>\t<digest>" (src/store/codecs/task-index.ts)
    KEYS[2] events          stream (src/store/codecs/feed-format.ts)
    KEYS[3] counters        hash
    KEYS[4] schedules_last  hash schedule_id -> "<tick ms>\t<task_id>"
    KEYS[5] schedules       hash schedule_id -> schedule record
    KEYS[6..] per class of the batch, CLASS_KEYS (12) keys from KEYS[c]:
      KEYS[c]          its task list (zset task_id by submit time)
      KEYS[c + 1..9]   its queue's marker, meta, id, prioritized, delayed, completed, active,
                       events, pc (BullMQ's)
      KEYS[c + 10..11] its queue's wait, paused (BullMQ's)
      then, per workflow run of the batch, its steps hash
    ARGV[1] events_maxlen
    then per task i, TASK_ARGS (12) values from b = 1 + (i - 1) * TASK_ARGS:
      ARGV[b + 1]  task_id
      ARGV[b + 2]  index_value   "<class>\t<digest>"
      ARGV[b + 3]  class
      ARGV[b + 4]  workflow_id   "" for none
      ARGV[b + 5]  delay_ms      "0" for none
      ARGV[b + 6]  schedule_id   "" for none
      ARGV[b + 7]  tick_ms       "" for none
      ARGV[b + 8]  c             KEYS index of its class's task list
      ARGV[b + 9]  job_args      BullMQ's packed add arguments (src/store/codecs/job-data.ts)
      ARGV[b + 10] job_data      the job data's JSON
      ARGV[b + 11] job_opts      BullMQ's packed job options
      ARGV[b + 12] steps         KEYS index of its run's steps hash, 0 for a task of no run

  Output:
    {0, v1, v2, ...}  vi: "" claimed now; "\ttick" (TICK_DONE) its schedule tick already
                      submitted a task (one since forgotten by retention); "\tstopped"
                      (STEP_STOPPED) its step is no longer releasing (not created); else the
                      index value it already had (the same content)
    {1, i, value}     task i is taken with different content, value: the index's; nothing written

  Events: "submitted" per claimed task (attempt 0; detail "delay_ms=<n>" for a delay).
]]
--- @include "includes/server-clock"
--- @include "includes/task-event"
--- @include "includes/schedule-tick"
--- @include "includes/step-releasing"
--- @bullmq addPrioritizedJob as bullAddPrioritized
--- @bullmq addDelayedJob as bullAddDelayed
--- @bullmq addStandardJob as bullAddStandard

local TASK_ARGS = 12
local TICK_DONE = '\ttick'
local STEP_STOPPED = '\tstopped'

-- Task i's values, in the header's ARGV[b + n] order.
local function taskArgs(i)
  local b = 1 + (i - 1) * TASK_ARGS
  return unpack(ARGV, b + 1, b + TASK_ARGS)
end

local tasks, events, counters, schedulesLast, schedules = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local eventsMaxLen = ARGV[1]
local now = serverNowMs()
local n = (#ARGV - 1) / TASK_ARGS
local out = {0}
for i = 1, n do
  local id, indexValue, _, workflowId, _, scheduleId, tickMs, _, _, _, _, steps = taskArgs(i)
  local v = redis.call('HGET', tasks, id)
  if v and v ~= indexValue then return {1, i, v} end
  if not v and tickMs ~= '' and tickDone(schedulesLast, scheduleId, tickMs) then v = TICK_DONE end
  local g = tonumber(steps)
  if not v and g > 0 and not stepReleasing(KEYS[g], id, workflowId) then v = STEP_STOPPED end
  out[i + 1] = v or ''
end
for i = 1, n do
  if out[i + 1] == '' then
    local id, indexValue, class, workflowId, delayMs, scheduleId, tickMs, classKeys, jobArgs, jobData, jobOpts = taskArgs(i)
    local c = tonumber(classKeys)
    redis.call('HSET', tasks, id, indexValue)
    redis.call('ZADD', KEYS[c], now, id)
    if tickMs ~= '' then recordTick(schedulesLast, schedules, scheduleId, tickMs, id) end
    local delayed = delayMs ~= '0'
    local ev = taskEvent('submitted', id, class, 0, now, workflowId ~= '' and workflowId or nil, nil,
      delayed and ('delay_ms=' .. delayMs) or nil, scheduleId ~= '' and scheduleId or nil)
    redis.call('XADD', events, 'MAXLEN', '~', eventsMaxLen, '*', unpack(ev))
    redis.call('HINCRBY', counters, 'submitted:' .. class, 1)
    local job = {jobArgs, jobData, jobOpts}
    if delayed then
      bullAddDelayed({KEYS[c + 1], KEYS[c + 2], KEYS[c + 3], KEYS[c + 5], KEYS[c + 6], KEYS[c + 8]}, job)
    elseif (tonumber(cmsgpack.unpack(jobOpts)['priority']) or 0) == 0 then
      bullAddStandard({KEYS[c + 10], KEYS[c + 11], KEYS[c + 2], KEYS[c + 3], KEYS[c + 6], KEYS[c + 5], KEYS[c + 7], KEYS[c + 8], KEYS[c + 1]}, job)
    else
      bullAddPrioritized({KEYS[c + 1], KEYS[c + 2], KEYS[c + 3], KEYS[c + 4], KEYS[c + 5], KEYS[c + 6], KEYS[c + 7], KEYS[c + 8], KEYS[c + 9]}, job)
    end
  end
end
return out
