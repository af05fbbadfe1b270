--[[
  queuedSteps(): the run's steps whose tasks are in their queues (RK[2] steps: state "queued").
  Run keys: includes/run-args.
]]
--- @include "includes/run-args"
local function queuedSteps()
  local all = redis.call('HGETALL', RK[2])
  local out = {}
  for i = 1, #all, 2 do if all[i + 1] == 'queued' then out[#out + 1] = all[i] end end
  return out
end
