--[[
  endStep(step, state, detail): a step that ends without (further) running: skipped, or
  cancelled before its task ran. Leaves the releasing zset (KEYS[7]) if it was there, takes
  `state` (KEYS[2]) with an outcome of attempt 0 and error `detail` (KEYS[4]), writes its
  workflow_step event, and counts one open step less (KEYS[1] open).
]]
--- @include "includes/step-event"
local function endStep(step, state, detail)
  if redis.call('HGET', KEYS[2], step) == 'releasing' then redis.call('ZREM', KEYS[7], RUN .. '\t' .. step) end
  redis.call('HSET', KEYS[2], step, state)
  redis.call('HSET', KEYS[4], step, cjson.encode({state = state, attempt = 0, error = detail, at = tonumber(NOW)}))
  stepEvent(step, state, '0', detail)
  redis.call('HINCRBY', KEYS[1], 'open', -1)
end
