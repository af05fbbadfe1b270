--[[
  finishRun(): ends the run once no step is open (RK[1] open = 0), returning 1, else 0. The
  run's state becomes cancelled (stop = "cancel"), failed (a step failed or was cancelled) or
  succeeded, with finished_at and its workflow_run event (detail: stop_reason); it leaves the
  active runs (RK[6]), its four keys (RK[1..4]) expire after the retention (KEEP) and its staged
  releases (RK[9]), of no use once it ended, are deleted. Run keys: includes/run-args.
]]
--- @include "includes/run-event"
local function finishRun()
  if tonumber(redis.call('HGET', RK[1], 'open')) > 0 then return 0 end
  local state = 'succeeded'
  if redis.call('HGET', RK[1], 'stop') == 'cancel' then state = 'cancelled'
  elseif tonumber(redis.call('HGET', RK[1], 'failed')) > 0 then state = 'failed' end
  redis.call('HSET', RK[1], 'state', state, 'finished_at', NOW)
  runEvent(state, redis.call('HGET', RK[1], 'stop_reason'))
  redis.call('ZREM', RK[6], RUN)
  for i = 1, 4 do redis.call('PEXPIRE', RK[i], KEEP) end
  redis.call('DEL', RK[9])
  return 1
end
