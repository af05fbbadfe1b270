--[[
  finishRun(): ends the run once no step is open (KEYS[1] open = 0), returning 1, else 0. The
  run's state becomes cancelled (stop = "cancel"), failed (a step failed or was cancelled) or
  succeeded, with finished_at and its workflow_run event (detail: stop_reason); it leaves the
  active runs (KEYS[6]) and its four keys (KEYS[1..4]) expire after the retention (ARGV[4]).
]]
--- @include "includes/run-event"
local function finishRun()
  if tonumber(redis.call('HGET', KEYS[1], 'open')) > 0 then return 0 end
  local state = 'succeeded'
  if redis.call('HGET', KEYS[1], 'stop') == 'cancel' then state = 'cancelled'
  elseif tonumber(redis.call('HGET', KEYS[1], 'failed')) > 0 then state = 'failed' end
  redis.call('HSET', KEYS[1], 'state', state, 'finished_at', NOW)
  runEvent(state, redis.call('HGET', KEYS[1], 'stop_reason'))
  redis.call('ZREM', KEYS[6], RUN)
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], KEEP) end
  return 1
end
