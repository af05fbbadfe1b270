--[[
  Adding a batch's tasks to their classes, shared by the submit scripts (tasks/submit-tasks on a
  single Redis, tasks/submit-class-tasks on a Redis Cluster): a task added gets an entry in its
  class's task list stream with an entry id of Redis's clock (one clock for every orchestrator, so
  a page cursor is never passed by a later submission), a "submitted" event, a count in
  "submitted:<class>", and its job in its queue. A claimed schedule tick becomes its schedule's
  last tick (includes/schedule-tick).

  A job is added as BullMQ's addStandardJob (a task of priority 0: its job options carry no
  priority or 0; to the wait list) or addPrioritizedJob (any other priority; the pools take
  prioritized jobs first: includes/take-next-job) would add it, by code built from BullMQ's
  fragments (storeJob, getPriorityScore, handleDuplicatedJob, ...: the same job hash, job
  counter, "added" and "waiting" events), with what BullMQ's script looks up per job looked up
  once per class of the batch: the queue's events MAXLEN and paused / maxed state, and its
  marker set once (nothing else runs while the script does, so they cannot change in between).
  A delayed task's job is added by BullMQ's own addDelayedJob (includes/add-delayed-task, which
  a script that may add one includes before this fragment).

  The including script defines `rcall` (redis.call) before this include and passes, per class,
  the KEYS index c of its group (the script headers' KEYS[c..c + 13]: task list, BullMQ's marker,
  meta, id, prioritized, delayed, completed, active, events, pc, wait, paused, then the class's
  events stream and counters hash). The keys and values are the script's KEYS and ARGV, or the
  tables setTaskSource names (a script whose own KEYS and ARGV have another layout: a pool's
  finish adding a step's staged tasks, includes/staged-step).

  Defines:
    TASK_ARGS                       values per task in ARGV (the headers' ARGV[b + 1..15])
    setTaskSource(k, a, base)       the tasks' keys and values are the tables k and a (instead of
                                    KEYS and ARGV), their section after a[base], the events MAXLEN
                                    the tasks follow (by default KEYS, ARGV and 1, as in the
                                    submit scripts' headers)
    taskArgs(i)                     task i's values
    queueOf(c)                      the class's queue state for this call (its job key prefix)
    addTask(i, now, eventsMaxLen, schedulesLast, schedules)
                                    adds task i; returns its list entry id
    flushAdds()                     the per-class counts and markers, once at the end
]]
--- @include "includes/task-event"
--- @include "includes/schedule-tick"
--- @bullmq-fragment getOrSetMaxEvents
--- @bullmq-fragment isQueuePausedOrMaxed
--- @bullmq-fragment storeJob
--- @bullmq-fragment getPriorityScore
--- @bullmq-fragment handleDuplicatedJob
--- @bullmq-fragment addBaseMarkerIfNeeded

local TASK_ARGS = 15
local taskArgvBase = 1
-- Where the keys and values of the tasks are: this script's KEYS and ARGV unless set.
local TK, TA = KEYS, ARGV

local function setTaskSource(k, a, base)
  TK, TA, taskArgvBase = k, a, base
end

-- Task i's values, in the headers' ARGV[b + n] order.
local function taskArgs(i)
  local b = taskArgvBase + (i - 1) * TASK_ARGS
  return unpack(TA, b + 1, b + TASK_ARGS)
end

-- Per class (its KEYS index c) of the batch: its queue's events MAXLEN and paused / maxed state.
local queues, queueOrder = {}, {}
local function queueOf(c)
  local q = queues[c]
  if not q then
    q = {maxEvents = getOrSetMaxEvents(TK[c + 2]), pausedOrMaxed = isQueuePausedOrMaxed(TK[c + 2], TK[c + 7]), adds = 0,
      -- A job's key is its queue's key prefix and its id, and the meta key is that prefix and
      -- "meta" (BullMQ's key layout: src/store/bullmq/script-layouts.ts).
      jobPrefix = string.sub(TK[c + 2], 1, -5)}
    queues[c] = q
    queueOrder[#queueOrder + 1] = c
  end
  return q
end

-- A job not delayed, added as BullMQ's addStandardJob (priority 0) or addPrioritizedJob does.
local function addJob(c, jobId, name, timestamp, jobData, jobOpts)
  local q = queueOf(c)
  local opts = cjson.decode(jobOpts)
  local eventsKey = TK[c + 8]
  -- BullMQ's add counts every add in the queue's id counter (a job with its own id too); counted
  -- here and added once per queue at the end of the batch.
  q.adds = q.adds + 1
  local jobIdKey = q.jobPrefix .. jobId
  if rcall('EXISTS', jobIdKey) == 1 then
    handleDuplicatedJob(jobIdKey, jobId, nil, nil, nil, nil, TK[c + 6], eventsKey, q.maxEvents, timestamp)
    return
  end
  local _, priority = storeJob(eventsKey, jobIdKey, jobId, name, jobData, opts, timestamp, nil, nil, nil)
  if priority == 0 then
    rcall(opts['lifo'] and 'RPUSH' or 'LPUSH', TK[c + 10], jobId)
  else
    rcall('ZADD', TK[c + 4], getPriorityScore(priority, TK[c + 9]), jobId)
  end
  rcall('XADD', eventsKey, 'MAXLEN', '~', q.maxEvents, '*', 'event', 'waiting', 'jobId', jobId)
end

-- Added tasks per class: one HINCRBY per class of the batch, not one per task.
local submitted, submittedClasses, counterKey = {}, {}, {}
-- Per class (its KEYS index): the ms its list entries get in this call.
local listMs = {}

local function addTask(i, now, eventsMaxLen, schedulesLast, schedules)
  local id, _, class, workflowId, delayMs, scheduleId, tickMs, classKeys, jobArgs, jobData, jobOpts, jobName, timestamp = taskArgs(i)
  local c = tonumber(classKeys)
  -- Entry ids at `now`, the events' `at`; after a newer entry (the clock went back), Redis's own.
  local ms = listMs[c]
  local entry
  if ms then
    entry = rcall('XADD', TK[c], ms .. '-*', 't', id)
  else
    entry = redis.pcall('XADD', TK[c], now .. '-*', 't', id)
    if type(entry) == 'table' then entry = rcall('XADD', TK[c], '*', 't', id) end
    listMs[c] = string.sub(entry, 1, string.find(entry, '-', 1, true) - 1)
  end
  if tickMs ~= '' then recordTick(schedulesLast, schedules, scheduleId, tickMs, id) end
  local delayed = delayMs ~= '0'
  local ev = taskEvent('submitted', id, class, 0, now, workflowId ~= '' and workflowId or nil, nil,
    delayed and ('delay_ms=' .. delayMs) or nil, scheduleId ~= '' and scheduleId or nil)
  rcall('XADD', TK[c + 12], 'MAXLEN', '~', eventsMaxLen, '*', unpack(ev))
  if not submitted[class] then submittedClasses[#submittedClasses + 1] = class; submitted[class] = 0; counterKey[class] = TK[c + 13] end
  submitted[class] = submitted[class] + 1
  if delayed then
    addDelayedTask({TK[c + 1], TK[c + 2], TK[c + 3], TK[c + 5], TK[c + 6], TK[c + 8]}, jobArgs, jobData, jobOpts)
  else
    addJob(c, id, jobName, timestamp, jobData, jobOpts)
  end
  return entry
end

local function flushAdds()
  for _, class in ipairs(submittedClasses) do rcall('HINCRBY', counterKey[class], 'submitted:' .. class, submitted[class]) end
  -- The marker BullMQ's add sets per job (its Workers wait on it), once per queue.
  for _, c in ipairs(queueOrder) do
    rcall('INCRBY', TK[c + 3], string.format('%d', queues[c].adds))
    addBaseMarkerIfNeeded(TK[c + 1], queues[c].pausedOrMaxed)
  end
end
