--[[
  The workflow engine's contract with the submit script (src/workflows/): a run's steps hash
  (`run:<run_id>:steps`, step_id -> state) holds "releasing" for a step whose task is being
  submitted. A step task's id is "<run_id>.<step_id>"; its task is created only while its step
  is still releasing, checked in the script that creates it, so a run stopped meanwhile
  (cancelled, failed fast) never gets a task that could start.

  Defines stepReleasing(steps, taskId, runId): whether the step of task taskId of run runId is
  releasing in the steps hash `steps`.
]]
local function stepReleasing(steps, taskId, runId)
  return redis.call('HGET', steps, string.sub(taskId, #runId + 2)) == 'releasing'
end
