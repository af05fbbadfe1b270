--[[
  Defines jobFacts(data): attemptsBefore (a number, 0 when absent), workflowId and scheduleId (nil
  when absent) of a task's job data JSON, read with patterns where only our keys can be: the key
  order is src/store/codecs/job-data.ts's contract (scheduleId first, or right after timeoutMs in
  data written before it moved there; attemptsBefore followed by "," or "}"; workflowId last;
  payload values are strings). Nothing here depends on executor or timeoutMs being present.
  test/job-data.int.test.ts runs this on the codec's output and on data in the earlier layout.
]]
local function jobFacts(data)
  local before = tonumber(string.match(data, ',"attemptsBefore":(%d+)')) or 0
  local wf = string.match(data, ',"workflowId":"([^"]*)"}$')
  local sched = string.match(data, '^{"scheduleId":"([^"]*)"') or string.match(data, ',"timeoutMs":%d+,"scheduleId":"([^"]*)"')
  return before, wf, sched
end
