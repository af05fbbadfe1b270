--[[
  Defines taskEvent(kind, id, class, attempt, at, workflowId, worker, detail, scheduleId): the
  fields of a task's event on the events stream, as an XADD field list, in the order of
  src/store/codecs/feed-format.ts's eventFields (the feed's public contract: add fields, never rename
  or remove one). workflowId, worker, detail and scheduleId are left out when nil; attempt is a
  number or a string.
]]
local function taskEvent(kind, id, class, attempt, at, workflowId, worker, detail, scheduleId)
  local ev = {'type', kind, 'task_id', id, 'class', class, 'attempt', string.format('%d', attempt), 'at', at}
  if workflowId then ev[#ev + 1] = 'workflow_id'; ev[#ev + 1] = workflowId end
  if worker then ev[#ev + 1] = 'worker'; ev[#ev + 1] = worker end
  if detail then ev[#ev + 1] = 'detail'; ev[#ev + 1] = detail end
  if scheduleId then ev[#ev + 1] = 'schedule_id'; ev[#ev + 1] = scheduleId end
  return ev
end
