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
    ARGV[11 .. 10 + n]     those steps
    ARGV[11 + n ..]        every step downstream of it (skipped after a failure under continue)

  Output (Codes: StepDoneCode):
    0  NotRecorded  then {steps whose tasks to cancel}: no such run or step, or already final
    1  Recorded     then {steps released}, {steps whose tasks to cancel}, 1 if the run ended else 0,
                    then {those to cancel that were releasing: their tasks may not be added yet}

  Events: workflow_step <state> (attempt ARGV[7]); workflow_step skipped per step skipped;
  workflow_run <final state> when the run ends.
]]
--- @include "includes/release-step"
--- @include "includes/end-step"
--- @include "includes/stop-run"
--- @include "includes/finish-run"
--- @include "includes/queued-steps"
local FINAL = {succeeded = true, failed = true, cancelled = true, skipped = true}
local run = redis.call('HGET', KEYS[1], 'state')
if not run then return {0, {}} end
local step, state = ARGV[5], ARGV[6]
local cur = redis.call('HGET', KEYS[2], step)
if not cur then return {0, {}} end
if FINAL[cur] then
  if run == 'running' and redis.call('HGET', KEYS[1], 'stop') ~= '' then return {0, queuedSteps()} end
  return {0, {}}
end
if cur == 'releasing' then redis.call('ZREM', KEYS[7], RUN .. '\t' .. step) end
redis.call('HSET', KEYS[2], step, state)
redis.call('HSET', KEYS[4], step, ARGV[8])
stepEvent(step, state, ARGV[7], ARGV[9])
redis.call('HINCRBY', KEYS[1], 'open', -1)
local released, cancel, releasing = {}, {}, {}
local n = tonumber(ARGV[10])
local stop = redis.call('HGET', KEYS[1], 'stop')
if state == 'succeeded' then
  if stop == '' then
    for i = 11, 10 + n do
      local d = ARGV[i]
      if redis.call('HINCRBY', KEYS[3], d, -1) == 0 and redis.call('HGET', KEYS[2], d) == 'pending' then
        releaseStep(d)
        released[#released + 1] = d
      end
    end
  end
else
  if stop ~= 'cancel' then redis.call('HINCRBY', KEYS[1], 'failed', 1) end
  if stop == '' then
    local reason = 'step ' .. step .. ' ' .. state
    if redis.call('HGET', KEYS[1], 'policy') == 'fail_fast' then
      cancel, releasing = stopRun('failure', reason, 'skipped')
    else
      for i = 11 + n, #ARGV do
        if redis.call('HGET', KEYS[2], ARGV[i]) == 'pending' then endStep(ARGV[i], 'skipped', 'upstream ' .. reason) end
      end
    end
  end
end
return {1, released, cancel, finishRun(), releasing}
