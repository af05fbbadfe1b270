--[[
  The schedules' contract with the submit script (src/schedules/): a schedule's last submitted
  tick, kept in the hash `schedules_last` as "<tick ms>\t<task_id>" (schedule_id -> value), and
  written in the same script that claims the tick's task, so that a tick taken over from a dead
  orchestrator can never submit a second task.

  Defines:
    tickDone(last, scheduleId, tickMs)    true when the schedule's last tick is tickMs or later
    recordTick(last, schedules, scheduleId, tickMs, taskId)
                                          makes tickMs the schedule's last tick, while the
                                          schedule still exists in the hash `schedules`
]]
local function tickDone(last, scheduleId, tickMs)
  local v = redis.call('HGET', last, scheduleId)
  return v and tonumber(string.match(v, '^(%d+)')) >= tonumber(tickMs)
end
local function recordTick(last, schedules, scheduleId, tickMs, taskId)
  if redis.call('HEXISTS', schedules, scheduleId) == 1 then
    redis.call('HSET', last, scheduleId, tickMs .. '\t' .. taskId)
  end
end
