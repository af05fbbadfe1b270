--[[
  Cancels a running run: its steps that have not started end cancelled, those with tasks are
  handed back to cancel, and the run ends now if no step is left open (else when the last
  cancelled task's outcome is recorded). A run already stopping hands back its queued steps
  again (the first cancel's caller may have died before its cancels went out); a run that
  ended changes nothing.

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
    ARGV[5] reason

  Output (Codes: CancelRunCode):
    0  Missing  no such run
    1  Found    then the run's state after the call, then {steps whose tasks to cancel}, then
                {those of them that were releasing: their tasks may not be added yet}

  Events: workflow_step cancelled per step not started; workflow_run cancelled when the run
  ends now.
]]
--- @include "includes/stop-run"
--- @include "includes/finish-run"
--- @include "includes/queued-steps"
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {0} end
if st ~= 'running' then return {1, st, {}} end
if redis.call('HGET', KEYS[1], 'stop') ~= '' then return {1, st, queuedSteps()} end
local cancel, releasing = stopRun('cancel', 'cancelled: ' .. ARGV[5], 'cancelled')
finishRun()
return {1, redis.call('HGET', KEYS[1], 'state'), cancel, releasing}
