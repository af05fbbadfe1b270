--[[
  Records a step's final outcome and what follows from it: after a success, releases the
  dependents whose dependencies have now all succeeded; after a failure or cancel, under
  fail_fast stops the run (pending steps skipped, steps with tasks handed back to cancel), under
  continue skips the pending steps downstream; ends the run when no step is left open.
  An outcome applied again (its inbox entry was taken over because whoever applied it first
  stopped before acknowledging it) records nothing, but while its run is stopped and not yet
  over it hands back the queued steps, as cancel-run does: the first application may have died,
  or failed, before its cancels went out.

  Input:
    KEYS[1] run            hash: name, version, policy, digest, inputs (JSON), state, started_at,
                           finished_at, open (steps not yet final), failed (failed or cancelled
                           steps), stop ("" | "cancel" | "failure"), stop_reason
    KEYS[2] steps          hash step -> pending | releasing | queued | succeeded | failed |
                           cancelled | skipped
    KEYS[3] deps           hash step -> dependencies not yet succeeded
    KEYS[4] outcomes       hash step -> JSON {state, attempt, result?, error?, at}
    KEYS[5] events         stream
    KEYS[6] active runs    zset run_id -> start ms
    KEYS[7] releasing      zset "<run_id>\t<step_id>" -> ms it was released (or retaken)
    KEYS[8] run index      zset run_id -> start ms (every run retained)
    ARGV[1] now            ms
    ARGV[2] events_maxlen  MAXLEN ~ of the events stream
    ARGV[3] run_id
    ARGV[4] retention_ms   how long a finished run's keys are kept
    ARGV[5] step_id
    ARGV[6] state          succeeded | failed | cancelled
    ARGV[7] attempt
    ARGV[8] outcome        JSON {state, attempt, result?, error?, at} as stored in KEYS[4]
    ARGV[9] error          text for the event's detail ("" for none)
    ARGV[10] n             number of steps depending on this one directly
    ARGV[11] m             number of steps downstream of it
    ARGV[12] entry         the workflow inbox entry the outcome came from, "" for none (and
                           always "" on a Redis Cluster, where the inbox has a slot of its own)
    ARGV[13] group         the inbox's consumer group
    ARGV[14 .. 13 + n]     the steps depending on this one directly
    ARGV[14 + n .. 13 + n + m]
                           every step downstream of it (skipped after a failure under continue)
    ARGV[14 + n + m ..]    optional (single Redis only): the tasks of direct dependents this
                           outcome may release, as tasks/submit-tasks takes them (its ARGV from
                           the events MAXLEN on, their KEYS indexes into this call's KEYS)
    KEYS[9]  inbox         stream (read only when ARGV[12] is not "")
    KEYS[10 ..]            with tasks given: tasks/submit-tasks's KEYS, from its schedules last
                           (KEYS[10]) and schedules (KEYS[11]) on: the class groups, the run's
                           steps hash, the index buckets

  A released step whose task was given, and whose task id the index does not hold yet, has its
  task added here as tasks/submit-tasks adds it and becomes queued at once (never releasing);
  any other released step becomes releasing, for the caller to submit (src/workflows/).
  The inbox entry is acknowledged and deleted here when no step is left for the caller to
  cancel: what it still has to do, submit steps left releasing, the engine's sweep takes over
  should the caller stop (the releasing zset).

  Output (Codes: StepDoneCode):
    0  NotRecorded  then {steps whose tasks to cancel}, acked: no such run or step, or already final
    1  Recorded     then {steps released (releasing)}, {steps whose tasks to cancel}, 1 if the
                    run ended else 0, {those to cancel that were releasing: their tasks may not
                    be added yet}, {steps queued here (their tasks added)}, acked
    acked: 1 if the inbox entry was acknowledged, else 0

  Events: workflow_step <state> (attempt ARGV[7]); workflow_step skipped per step skipped;
  workflow_run <final state> when the run ends; per task added here, what tasks/submit-tasks
  writes, then workflow_step queued (attempt 0).
]]
--- @include "includes/release-step"
--- @include "includes/end-step"
--- @include "includes/stop-run"
--- @include "includes/finish-run"
--- @include "includes/queued-steps"
--- @include "includes/step-event"
--- @include "includes/server-clock"
local rcall = redis.call
--- @include "includes/add-tasks"
local FINAL = {succeeded = true, failed = true, cancelled = true, skipped = true}
local n, m, entry = tonumber(ARGV[10]), tonumber(ARGV[11]), ARGV[12]
-- Where each list starts in ARGV.
local DEPS, DOWN, TASKS = 14, 14 + n, 14 + n + m

-- The reply, with whether the inbox entry was acknowledged (when nothing is left to cancel).
local function reply(r, cancel)
  if entry ~= '' and #cancel == 0 then
    rcall('XACK', KEYS[9], ARGV[13], entry)
    rcall('XDEL', KEYS[9], entry)
    r[#r + 1] = 1
  else
    r[#r + 1] = 0
  end
  return r
end

local run = rcall('HGET', KEYS[1], 'state')
if not run then return reply({0, {}}, {}) end
local step, state = ARGV[5], ARGV[6]
local cur = rcall('HGET', KEYS[2], step)
if not cur then return reply({0, {}}, {}) end
if FINAL[cur] then
  if run == 'running' and rcall('HGET', KEYS[1], 'stop') ~= '' then
    local queued = queuedSteps()
    return reply({0, queued}, queued)
  end
  return reply({0, {}}, {})
end

-- The tasks given, by task id.
local given = {}
if #ARGV >= TASKS then
  setTaskArgvBase(TASKS)
  for i = 1, (#ARGV - TASKS) / TASK_ARGS do given[(taskArgs(i))] = i end
end
local now
-- Adds released step d's task when given and its id is free; whether it did.
local function submitStep(d)
  local i = given[RUN .. '.' .. d]
  if not i then return false end
  local id, indexValue, _, _, _, _, _, _, _, _, _, _, _, _, ix = taskArgs(i)
  local bucket = KEYS[tonumber(ix)]
  if rcall('HEXISTS', bucket, id) == 1 then return false end
  now = now or serverNowMs()
  rcall('HSET', bucket, id, indexValue .. '\t' .. addTask(i, now, ARGV[TASKS], KEYS[10], KEYS[11]))
  rcall('HSET', KEYS[2], d, 'queued')
  stepEvent(d, 'queued', '0', '')
  return true
end

if cur == 'releasing' then rcall('ZREM', KEYS[7], RUN .. '\t' .. step) end
rcall('HSET', KEYS[2], step, state)
rcall('HSET', KEYS[4], step, ARGV[8])
stepEvent(step, state, ARGV[7], ARGV[9])
rcall('HINCRBY', KEYS[1], 'open', -1)
local released, cancel, releasing, queued = {}, {}, {}, {}
local stop = rcall('HGET', KEYS[1], 'stop')
if state == 'succeeded' then
  if stop == '' then
    for i = DEPS, DOWN - 1 do
      local d = ARGV[i]
      if rcall('HINCRBY', KEYS[3], d, -1) == 0 and rcall('HGET', KEYS[2], d) == 'pending' then
        if submitStep(d) then
          queued[#queued + 1] = d
        else
          releaseStep(d)
          released[#released + 1] = d
        end
      end
    end
    if #queued > 0 then flushAdds() end
  end
else
  if stop ~= 'cancel' then rcall('HINCRBY', KEYS[1], 'failed', 1) end
  if stop == '' then
    local reason = 'step ' .. step .. ' ' .. state
    if rcall('HGET', KEYS[1], 'policy') == 'fail_fast' then
      cancel, releasing = stopRun('failure', reason, 'skipped')
    else
      for i = DOWN, TASKS - 1 do
        if rcall('HGET', KEYS[2], ARGV[i]) == 'pending' then endStep(ARGV[i], 'skipped', 'upstream ' .. reason) end
      end
    end
  end
end
return reply({1, released, cancel, finishRun(), releasing, queued}, cancel)
