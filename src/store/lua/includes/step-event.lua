--[[
  stepEvent(step, state, attempt, detail): appends a workflow_step event for the run's step to
  the events stream (RK[5]; run keys: includes/run-args); `detail` only when not empty. The
  step's task id is "<run_id>.<step_id>". Fields as in src/store/codecs/feed-format.ts.
]]
--- @include "includes/run-args"
local function stepEvent(step, state, attempt, detail)
  local f = {'type', 'workflow_step', 'task_id', RUN .. '.' .. step, 'attempt', attempt, 'at', NOW,
    'workflow_id', RUN, 'step_id', step, 'state', state}
  if detail ~= '' then f[#f + 1] = 'detail'; f[#f + 1] = detail end
  redis.call('XADD', RK[5], 'MAXLEN', '~', MAXLEN, '*', unpack(f))
end
