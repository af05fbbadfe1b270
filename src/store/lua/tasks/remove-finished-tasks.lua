--[[
  Removes finished jobs that are still finished: a job retried (back in its queue) or a task id
  resubmitted after a removal is no longer in the set and is left alone, however late the caller
  read its id. The job's keys are those BullMQ's own clean deletes (includes/removeJobKeys.lua);
  task jobs have no parents, children or deduplication ids. Job keys are built from job_prefix,
  as BullMQ's own scripts do: they share the set's hash slot. The task's own entries are left to
  forget-tasks.lua.

  Input:
    KEYS[1] finished      the completed or failed zset of a class's queue
    ARGV[1] job_prefix    the queue's job key prefix ("{<prefix>}:q:<class>:")
    ARGV[2..] task_id     the jobs to remove

  Output:
    the ids removed, in the order given.

  Events: none.
]]
-- One ZMSCORE, one DEL and one ZREM per slice of ids rather than three calls per id: retention
-- removes every finished task once, so this is a per-task cost of the whole system.
local SLICE = 500
local out = {}
for from = 2, #ARGV, SLICE do
  local ids = {unpack(ARGV, from, math.min(from + SLICE - 1, #ARGV))}
  local scores = redis.call('ZMSCORE', KEYS[1], unpack(ids))
  local gone, doomed = {}, {}
  for i, id in ipairs(ids) do
    if scores[i] then
      local k = ARGV[1] .. id
      gone[#gone + 1] = id
      doomed[#doomed + 1] = k
      doomed[#doomed + 1] = k .. ':logs'
      doomed[#doomed + 1] = k .. ':dependencies'
      doomed[#doomed + 1] = k .. ':processed'
      doomed[#doomed + 1] = k .. ':failed'
      doomed[#doomed + 1] = k .. ':unsuccessful'
      out[#out + 1] = id
    end
  end
  if #gone > 0 then
    redis.call('DEL', unpack(doomed))
    redis.call('ZREM', KEYS[1], unpack(gone))
  end
end
return out
