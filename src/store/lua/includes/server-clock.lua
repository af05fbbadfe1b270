--[[
  Defines serverNowMs(): the Redis server's clock in milliseconds since the epoch, as a string.
  One clock for every orchestrator and pool, so a task list's scores and the feeds' `at` never
  run backwards between writers.
]]
local function serverNowMs()
  local t = redis.call('TIME')
  return string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000))
end
