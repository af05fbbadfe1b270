--[[
  endStep(step, state, detail): a step that ends without (further) running: skipped, or
  cancelled before its task ran. Leaves the releasing zset (RK[7]) if it was there, takes
  `state` (RK[2] steps) with an outcome of attempt 0 and error `detail` (RK[4] outcomes), writes
  its workflow_step event, and counts one open step less (RK[1] open). Run keys: includes/run-args.
]]
--- @include "includes/step-event"
local function endStep(step, state, detail)
  if redis.call('HGET', RK[2], step) == 'releasing' then redis.call('ZREM', RK[7], RUN .. '\t' .. step) end
  redis.call('HSET', RK[2], step, state)
  redis.call('HSET', RK[4], step, cjson.encode({state = state, attempt = 0, error = detail, at = tonumber(NOW)}))
  stepEvent(step, state, '0', detail)
  redis.call('HINCRBY', RK[1], 'open', -1)
end
