--[[
  runEvent(state, detail): appends a workflow_run event for the run to the events stream
  (RK[5]; run keys: includes/run-args); `detail` only when not empty. Fields as in src/store/codecs/feed-format.ts.
]]
--- @include "includes/run-args"
local function runEvent(state, detail)
  local f = {'type', 'workflow_run', 'task_id', '', 'attempt', '0', 'at', NOW, 'workflow_id', RUN, 'state', state}
  if detail ~= '' then f[#f + 1] = 'detail'; f[#f + 1] = detail end
  redis.call('XADD', RK[5], 'MAXLEN', '~', MAXLEN, '*', unpack(f))
end
