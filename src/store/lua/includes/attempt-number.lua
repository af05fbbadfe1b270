--[[
  Defines attemptNumber(before, attemptsMade): the 1-based attempt a run of a job makes, the
  number its events and result carry. Attempt numbers go on counting across RetryTasks rounds
  (which restart BullMQ's count), so it is the attempts made before the last round (the job
  data's attemptsBefore, includes/job-facts) plus BullMQ's attempts made in this round (the job
  hash's `atm`, a number, a string or nil), plus one. src/tasks/task-spec.ts attemptsBefore is
  the same rule on the TypeScript side.
]]
local function attemptNumber(before, attemptsMade)
  return before + (tonumber(attemptsMade) or 0) + 1
end
