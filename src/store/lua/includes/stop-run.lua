--[[
  stopRun(kind, reason, pendingState): stops a run early (RK[1] stop = kind, "cancel" or
  "failure", with stop_reason): steps that have not started end as pendingState (endStep).
  Returns the steps whose tasks may exist and must be cancelled (releasing or queued ones), then
  those of them that were releasing (whose tasks may not exist yet). Run keys: includes/run-args.
]]
--- @include "includes/end-step"
local function stopRun(kind, reason, pendingState)
  redis.call('HSET', RK[1], 'stop', kind, 'stop_reason', reason)
  local all = redis.call('HGETALL', RK[2])
  local cancel, releasing = {}, {}
  for i = 1, #all, 2 do
    local step, st = all[i], all[i + 1]
    if st == 'pending' then endStep(step, pendingState, reason)
    elseif st == 'releasing' then
      endStep(step, pendingState, reason)
      cancel[#cancel + 1] = step
      releasing[#releasing + 1] = step
    elseif st == 'queued' then cancel[#cancel + 1] = step end
  end
  return cancel, releasing
end
