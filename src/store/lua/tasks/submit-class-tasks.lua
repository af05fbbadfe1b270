--[[
  On a Redis Cluster, the second step of a submission, on the slot of the tasks' class: adds the
  tasks whose ids were claimed (tasks/claim-task-ids), each as includes/add-tasks adds it (task
  list entry, "submitted" event, count, job), unless it was added already: its job is in its
  queue, or a cancel removed it while it was queued (its cancel mark stands). A task claimed by a
  front end that stopped before this step is added by the next submission of the same content.
  A schedule tick's task is added only when the tick was not submitted yet
  (includes/schedule-tick). A workflow step's task is added without a look at its step, whose
  state is in its run's slot: the engine checks it after the submission and cancels the task of
  a step stopped meanwhile (workflows/mark-queued).

  Input:
    KEYS[1..] per class of the call, CLASS_KEYS (16) keys from KEYS[c]: those of
      tasks/submit-tasks (its task list, BullMQ's marker, meta, id, prioritized, delayed,
      completed, active, events, pc, wait, paused, its events stream and counters hash), then
      KEYS[c + 14]     its cancel hash (task_id -> reason)
      KEYS[c + 15]     its schedules' last ticks, hash schedule_id -> "<tick ms>\t<task_id>",
                       holding "0\t" for a live schedule not yet fired: a tick is recorded only
                       for a schedule found there (src/schedules/schedule-store.ts seedTicks)
    ARGV[1] events_maxlen
    then per task i, TASK_ARGS (15) values, those of tasks/submit-tasks (ARGV[b + 14] steps and
    ARGV[b + 15] ix unused)

  Output:
    {v1, v2, ...}  vi: its list entry id, added now; "\ttick" (TICK_DONE) its schedule tick
                   already submitted a task; "\texisting" (EXISTING) its job is in its queue; "\tjobless"
                   (JOBLESS) a cancel removed its job while it was queued

  Events: "submitted" per task added (attempt 0; detail "delay_ms=<n>" for a delay).
]]
--- @include "includes/server-clock"
local rcall = redis.call
--- @include "includes/add-delayed-task"
--- @include "includes/add-tasks"

local TICK_DONE = '\ttick'
local EXISTING = '\texisting'
local JOBLESS = '\tjobless'

local eventsMaxLen = ARGV[1]
local now = serverNowMs()
local n = (#ARGV - 1) / TASK_ARGS
local out = {}
for i = 1, n do
  local id, _, _, _, _, scheduleId, tickMs, classKeys = taskArgs(i)
  local c = tonumber(classKeys)
  local v
  -- A job's key is its queue's key prefix (the meta key's, includes/add-tasks queueOf) and its id.
  if rcall('EXISTS', string.sub(KEYS[c + 2], 1, -5) .. id) == 1 then
    v = EXISTING
  elseif rcall('HEXISTS', KEYS[c + 14], id) == 1 then
    v = JOBLESS
  elseif tickMs ~= '' and tickDone(KEYS[c + 15], scheduleId, tickMs) then
    v = TICK_DONE
  end
  -- The class's last-tick hash is also where a live schedule is found (includes/schedule-tick recordTick).
  out[i] = v or addTask(i, now, eventsMaxLen, KEYS[c + 15], KEYS[c + 15])
end
flushAdds()
return out
