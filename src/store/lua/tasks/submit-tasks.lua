--[[
  Claims a batch of task ids in the cross-class index (its buckets), records their submission
  and adds their jobs, all or nothing: when any id is already taken with different content
  nothing is written. A claimed task gets a "submitted" event, counts in counters
  "submitted:<class>", enters its class's task list stream with an entry id of Redis's clock
  (one clock for every orchestrator, so a page cursor is never passed by a later submission; the
  index value ends with that id), and its job is added to its queue in this script: the job is
  in its queue exactly when its id is claimed. A claimed schedule tick becomes its schedule's
  last tick (includes/schedule-tick); a workflow step's task is created only while its step is
  releasing (includes/step-releasing).

  A job is added as BullMQ's addStandardJob (a task of priority 0: its job options carry no
  priority or 0; to the wait list) or addPrioritizedJob (any other priority; the pools take
  prioritized jobs first: includes/take-next-job) would add it, by code built from BullMQ's
  fragments (storeJob, getPriorityScore, handleDuplicatedJob, ...: the same job hash, job
  counter, "added" and "waiting" events), with what BullMQ's script looks up per job looked up
  once per class of the batch: the queue's events MAXLEN and paused / maxed state, and its
  marker set once (nothing else runs while the script does, so they cannot change in between).
  A delayed task's job is added by BullMQ's own addDelayedJob.

  A stored index value of a previous version carries a longer digest, of which this version's is
  the prefix: a value that starts with the task's own is the same content.

  Input:
    KEYS[1] schedules_last  hash schedule_id -> "<tick ms>\t<task_id>"
    KEYS[2] schedules       hash schedule_id -> schedule record
    KEYS[3..] per class of the batch, CLASS_KEYS (14) keys from KEYS[c]:
      KEYS[c]          its task list (stream, entry field "t" = task_id)
      KEYS[c + 1..9]   its queue's marker, meta, id, prioritized, delayed, completed, active,
                       events, pc (BullMQ's)
      KEYS[c + 10..11] its queue's wait, paused (BullMQ's)
      KEYS[c + 12]     the class's events stream (src/store/codecs/feed-format.ts; one stream
                       for every class on a single Redis, one per class on a cluster)
      KEYS[c + 13]     the class's counters hash (one for every class on a single Redis, one
                       per class on a cluster: src/store/keys.ts countersOf)
      then, per workflow run of the batch, its steps hash
      then the index buckets of the batch's tasks, each once: hash task_id ->
        "<class>\t<digest>\t<list entry id>" (src/store/codecs/task-index.ts)
    ARGV[1] events_maxlen
    then per task i, TASK_ARGS (15) values from b = 1 + (i - 1) * TASK_ARGS:
      ARGV[b + 1]  task_id
      ARGV[b + 2]  index_value   "<class>\t<digest>" (the script appends "\t<list entry id>")
      ARGV[b + 3]  class
      ARGV[b + 4]  workflow_id   "" for none
      ARGV[b + 5]  delay_ms      "0" for none
      ARGV[b + 6]  schedule_id   "" for none
      ARGV[b + 7]  tick_ms       "" for none
      ARGV[b + 8]  c             KEYS index of its class's task list
      ARGV[b + 9]  job_args      a delayed task's: BullMQ's packed add arguments
                                 (src/store/codecs/job-data.ts); "" for the others
      ARGV[b + 10] job_data      the job data's JSON
      ARGV[b + 11] job_opts      BullMQ's packed job options
      ARGV[b + 12] job_name      the job's name
      ARGV[b + 13] timestamp     the job's creation time (ms)
      ARGV[b + 14] steps         KEYS index of its run's steps hash, 0 for a task of no run
      ARGV[b + 15] ix            KEYS index of its task index bucket

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
--- @bullmq addDelayedJob as bullAddDelayed
local rcall = redis.call
--- @bullmq-fragment getOrSetMaxEvents
--- @bullmq-fragment isQueuePausedOrMaxed
--- @bullmq-fragment storeJob
--- @bullmq-fragment getPriorityScore
--- @bullmq-fragment handleDuplicatedJob
--- @bullmq-fragment addBaseMarkerIfNeeded

local TASK_ARGS = 15
local TICK_DONE = '\ttick'
local STEP_STOPPED = '\tstopped'

-- Per class (its KEYS index c) of the batch: its queue's events MAXLEN and paused / maxed state.
local queues, queueOrder = {}, {}
local function queueOf(c)
  local q = queues[c]
  if not q then
    q = {maxEvents = getOrSetMaxEvents(KEYS[c + 2]), pausedOrMaxed = isQueuePausedOrMaxed(KEYS[c + 2], KEYS[c + 7]), adds = 0,
      -- A job's key is its queue's key prefix and its id, and the meta key is that prefix and
      -- "meta" (BullMQ's key layout: src/store/bullmq/script-layouts.ts).
      jobPrefix = string.sub(KEYS[c + 2], 1, -5)}
    queues[c] = q
    queueOrder[#queueOrder + 1] = c
  end
  return q
end

-- A job not delayed, added as BullMQ's addStandardJob (priority 0) or addPrioritizedJob does.
local function addJob(c, jobId, name, timestamp, jobData, jobOpts)
  local q = queueOf(c)
  local opts = cmsgpack.unpack(jobOpts)
  local eventsKey = KEYS[c + 8]
  -- BullMQ's add counts every add in the queue's id counter (a job with its own id too); counted
  -- here and added once per queue at the end of the batch.
  q.adds = q.adds + 1
  local jobIdKey = q.jobPrefix .. jobId
  if rcall('EXISTS', jobIdKey) == 1 then
    handleDuplicatedJob(jobIdKey, jobId, nil, nil, nil, nil, KEYS[c + 6], eventsKey, q.maxEvents, timestamp)
    return
  end
  local _, priority = storeJob(eventsKey, jobIdKey, jobId, name, jobData, opts, timestamp, nil, nil, nil)
  if priority == 0 then
    rcall(opts['lifo'] and 'RPUSH' or 'LPUSH', KEYS[c + 10], jobId)
  else
    rcall('ZADD', KEYS[c + 4], getPriorityScore(priority, KEYS[c + 9]), jobId)
  end
  rcall('XADD', eventsKey, 'MAXLEN', '~', q.maxEvents, '*', 'event', 'waiting', 'jobId', jobId)
end

-- Task i's values, in the header's ARGV[b + n] order.
local function taskArgs(i)
  local b = 1 + (i - 1) * TASK_ARGS
  return unpack(ARGV, b + 1, b + TASK_ARGS)
end

local schedulesLast, schedules = KEYS[1], KEYS[2]
local eventsMaxLen = ARGV[1]
local now = serverNowMs()
local n = (#ARGV - 1) / TASK_ARGS
local out = {0}
-- Claimed tasks per class: one HINCRBY per class of the batch, not one per task.
local submitted, classes, counterKey = {}, {}, {}
-- Per class (its KEYS index): the ms its list entries get in this call.
local listMs = {}
for i = 1, n do
  local id, indexValue, _, workflowId, _, scheduleId, tickMs, _, _, _, _, _, _, steps, ix = taskArgs(i)
  local v = redis.call('HGET', KEYS[tonumber(ix)], id)
  if v and v ~= indexValue and string.sub(v, 1, #indexValue) ~= indexValue then return {1, i, v} end
  if not v and tickMs ~= '' and tickDone(schedulesLast, scheduleId, tickMs) then v = TICK_DONE end
  local g = tonumber(steps)
  if not v and g > 0 and not stepReleasing(KEYS[g], id, workflowId) then v = STEP_STOPPED end
  out[i + 1] = v or ''
end
for i = 1, n do
  if out[i + 1] == '' then
    local id, indexValue, class, workflowId, delayMs, scheduleId, tickMs, classKeys, jobArgs, jobData, jobOpts, jobName, timestamp, _, ix = taskArgs(i)
    local c = tonumber(classKeys)
    -- Entry ids at `now`, the events' `at`; after a newer entry (the clock went back), Redis's own.
    local ms = listMs[c]
    local entry
    if ms then
      entry = redis.call('XADD', KEYS[c], ms .. '-*', 't', id)
    else
      entry = redis.pcall('XADD', KEYS[c], now .. '-*', 't', id)
      if type(entry) == 'table' then entry = redis.call('XADD', KEYS[c], '*', 't', id) end
      listMs[c] = string.sub(entry, 1, string.find(entry, '-', 1, true) - 1)
    end
    redis.call('HSET', KEYS[tonumber(ix)], id, indexValue .. '\t' .. entry)
    if tickMs ~= '' then recordTick(schedulesLast, schedules, scheduleId, tickMs, id) end
    local delayed = delayMs ~= '0'
    local ev = taskEvent('submitted', id, class, 0, now, workflowId ~= '' and workflowId or nil, nil,
      delayed and ('delay_ms=' .. delayMs) or nil, scheduleId ~= '' and scheduleId or nil)
    redis.call('XADD', KEYS[c + 12], 'MAXLEN', '~', eventsMaxLen, '*', unpack(ev))
    if not submitted[class] then classes[#classes + 1] = class; submitted[class] = 0; counterKey[class] = KEYS[c + 13] end
    submitted[class] = submitted[class] + 1
    if delayed then
      bullAddDelayed({KEYS[c + 1], KEYS[c + 2], KEYS[c + 3], KEYS[c + 5], KEYS[c + 6], KEYS[c + 8]}, {jobArgs, jobData, jobOpts})
    else
      addJob(c, id, jobName, timestamp, jobData, jobOpts)
    end
  end
end
for _, class in ipairs(classes) do redis.call('HINCRBY', counterKey[class], 'submitted:' .. class, submitted[class]) end
-- The marker BullMQ's add sets per job (its Workers wait on it), once per queue.
for _, c in ipairs(queueOrder) do
  rcall('INCRBY', KEYS[c + 3], string.format('%d', queues[c].adds))
  addBaseMarkerIfNeeded(KEYS[c + 1], queues[c].pausedOrMaxed)
end
return out
