--[[
  On a Redis Cluster, the second step of a submission, on the slot of the tasks' class: adds the
  tasks whose ids were claimed (tasks/claim-task-ids), each as includes/add-tasks adds it (task
  list entry, "submitted" event, count, job), unless it was added already: its job is in its
  queue, or a cancel removed it while it was queued (its cancel mark stands). A task claimed by a
  front end that stopped before this step is added by the next submission of the same content.
  A workflow step's task is added only while its step is releasing (includes/step-releasing), a
  schedule tick's only when the tick was not submitted yet (includes/schedule-tick).

  Input:
    KEYS[1] schedules_last  hash schedule_id -> "<tick ms>\t<task_id>"
    KEYS[2] schedules       hash schedule_id -> schedule record
    KEYS[3..] per class of the call, CLASS_KEYS (15) keys from KEYS[c]: those of
      tasks/submit-tasks (its task list, BullMQ's marker, meta, id, prioritized, delayed,
      completed, active, events, pc, wait, paused, its events stream and counters hash), then
      KEYS[c + 14]     its cancel hash (task_id -> reason)
      then, per workflow run of the call, its steps hash
    ARGV[1] events_maxlen
    then per task i, TASK_ARGS (15) values, those of tasks/submit-tasks (ARGV[b + 15], ix, unused)

  Output:
    {v1, v2, ...}  vi: its list entry id, added now; "\ttick" (TICK_DONE) its schedule tick
                   already submitted a task; "\tstopped" (STEP_STOPPED) its step is no longer
                   releasing; "\texisting" (EXISTING) its job is in its queue; "\tjobless"
                   (JOBLESS) a cancel removed its job while it was queued

  Events: "submitted" per task added (attempt 0; detail "delay_ms=<n>" for a delay).
]]
--- @include "includes/server-clock"
--- @include "includes/step-releasing"
local rcall = redis.call
--- @include "includes/add-tasks"

local TICK_DONE = '\ttick'
local STEP_STOPPED = '\tstopped'
local EXISTING = '\texisting'
local JOBLESS = '\tjobless'

local schedulesLast, schedules = KEYS[1], KEYS[2]
local eventsMaxLen = ARGV[1]
local now = serverNowMs()
local n = (#ARGV - 1) / TASK_ARGS
local out = {}
for i = 1, n do
  local id, _, _, workflowId, _, scheduleId, tickMs, classKeys, _, _, _, _, _, steps = taskArgs(i)
  local c = tonumber(classKeys)
  local v
  -- A job's key is its queue's key prefix (the meta key's, includes/add-tasks queueOf) and its id.
  if rcall('EXISTS', string.sub(KEYS[c + 2], 1, -5) .. id) == 1 then
    v = EXISTING
  elseif rcall('HEXISTS', KEYS[c + 14], id) == 1 then
    v = JOBLESS
  elseif tickMs ~= '' and tickDone(schedulesLast, scheduleId, tickMs) then
    v = TICK_DONE
  else
    local g = tonumber(steps)
    if g > 0 and not stepReleasing(KEYS[g], id, workflowId) then v = STEP_STOPPED end
  end
  out[i] = v or addTask(i, now, eventsMaxLen, schedulesLast, schedules)
end
flushAdds()
return out
