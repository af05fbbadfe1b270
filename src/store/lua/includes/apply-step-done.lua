--[[
  applyStepDone(K, A): the body of workflows/step-done, for that script and for a pool's finish
  of a step whose releases were staged (includes/staged-step). K and A are tables laid out as
  workflows/step-done.lua's KEYS and ARGV (its header says what each holds): K[1..9] the run's
  keys (includes/run-args), K[10] the inbox, K[11..] the submit keys of the tasks given; A[1..4]
  the run's values, A[5..] the step's outcome, its dependents and downstream steps, the inbox
  entry and the tasks given. Returns step-done's reply. The including script defines `rcall`
  (redis.call) before this include.

  Besides what step-done's header says, the step's staged releases (K[9], field step_id) are
  deleted when its outcome is recorded: whoever records it, they are of no use after.
]]
--- @include "includes/run-args"
--- @include "includes/release-step"
--- @include "includes/end-step"
--- @include "includes/stop-run"
--- @include "includes/finish-run"
--- @include "includes/queued-steps"
--- @include "includes/step-event"
--- @include "includes/server-clock"
--- @include "includes/add-tasks"

local function applyStepDone(K, A)
  useRunArgs(K, A)
  local FINAL = {succeeded = true, failed = true, cancelled = true, skipped = true}
  local n, m, entry = tonumber(A[10]), tonumber(A[11]), A[12]
  -- Where each list starts in A.
  local DEPS, DOWN, TASKS = 14, 14 + n, 14 + n + m

  -- The reply, with whether the inbox entry was acknowledged (when nothing is left to cancel).
  local function reply(r, cancel)
    if entry ~= '' and #cancel == 0 then
      rcall('XACK', K[10], A[13], entry)
      rcall('XDEL', K[10], entry)
      r[#r + 1] = 1
    else
      r[#r + 1] = 0
    end
    return r
  end

  local run = rcall('HGET', K[1], 'state')
  if not run then return reply({0, {}}, {}) end
  local step, state = A[5], A[6]
  local cur = rcall('HGET', K[2], step)
  if not cur then return reply({0, {}}, {}) end
  if FINAL[cur] then
    if run == 'running' and rcall('HGET', K[1], 'stop') ~= '' then
      local queued = queuedSteps()
      return reply({0, queued}, queued)
    end
    return reply({0, {}}, {})
  end

  -- The tasks given, by task id.
  local given = {}
  if #A >= TASKS then
    setTaskSource(K, A, TASKS)
    for i = 1, (#A - TASKS) / TASK_ARGS do given[(taskArgs(i))] = i end
  end
  local now
  -- Adds released step d's task when given and its id is free; whether it did.
  local function submitStep(d)
    local i = given[RUN .. '.' .. d]
    if not i then return false end
    local id, indexValue, _, _, _, _, _, _, _, _, _, _, _, _, ix = taskArgs(i)
    local bucket = K[tonumber(ix)]
    if rcall('HEXISTS', bucket, id) == 1 then return false end
    now = now or serverNowMs()
    rcall('HSET', bucket, id, indexValue .. '\t' .. addTask(i, now, A[TASKS], K[11], K[12]))
    rcall('HSET', K[2], d, 'queued')
    stepEvent(d, 'queued', '0', '')
    return true
  end

  if cur == 'releasing' then rcall('ZREM', K[7], RUN .. '\t' .. step) end
  rcall('HSET', K[2], step, state)
  rcall('HSET', K[4], step, A[8])
  rcall('HDEL', K[9], step)
  stepEvent(step, state, A[7], A[9])
  rcall('HINCRBY', K[1], 'open', -1)
  local released, cancel, releasing, queued = {}, {}, {}, {}
  local stop = rcall('HGET', K[1], 'stop')
  if state == 'succeeded' then
    if stop == '' then
      for i = DEPS, DOWN - 1 do
        local d = A[i]
        if rcall('HINCRBY', K[3], d, -1) == 0 and rcall('HGET', K[2], d) == 'pending' then
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
    if stop ~= 'cancel' then rcall('HINCRBY', K[1], 'failed', 1) end
    if stop == '' then
      local reason = 'step ' .. step .. ' ' .. state
      if rcall('HGET', K[1], 'policy') == 'fail_fast' then
        cancel, releasing = stopRun('failure', reason, 'skipped')
      else
        for i = DOWN, TASKS - 1 do
          if rcall('HGET', K[2], A[i]) == 'pending' then endStep(A[i], 'skipped', 'upstream ' .. reason) end
        end
      end
    end
  end
  return reply({1, released, cancel, finishRun(), releasing, queued}, cancel)
end
