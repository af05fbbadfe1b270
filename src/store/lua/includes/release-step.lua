--[[
  releaseStep(step): the step's dependencies succeeded and this caller submits its task: the
  step becomes releasing (RK[2] steps) and enters the releasing zset (RK[7], member
  "<run_id>\t<step_id>", score now), where the engine's sweep finds it should the caller die.
]]
--- @include "includes/run-args"
local function releaseStep(step)
  redis.call('HSET', RK[2], step, 'releasing')
  redis.call('ZADD', RK[7], NOW, RUN .. '\t' .. step)
end
