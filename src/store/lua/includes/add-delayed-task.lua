--[[
  Defines addDelayedTask(keys, jobArgs, jobData, jobOpts): a delayed task's job added by BullMQ's
  own addDelayedJob (keys: its marker, meta, id, delayed, completed and events keys; jobOpts the
  options' JSON, packed here as Queue.add sends them), for includes/add-tasks.

  A script that may add a delayed task includes this fragment before includes/add-tasks (so that
  add-tasks finds it as a local); one that never does leaves it out, and with it the definition
  of BullMQ's whole addDelayedJob in every one of its calls: a pool's finish adding a step's
  staged tasks (includes/staged-step), which are never delayed (src/store/workflows/
  staged-steps.ts refuses one).
]]
--- @bullmq addDelayedJob as bullAddDelayed
local function addDelayedTask(keys, jobArgs, jobData, jobOpts)
  bullAddDelayed(keys, {jobArgs, jobData, cmsgpack.pack(cjson.decode(jobOpts))})
end
