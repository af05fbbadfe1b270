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
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[1], id) then
    local k = ARGV[1] .. id
    redis.call('DEL', k, k .. ':logs', k .. ':dependencies', k .. ':processed', k .. ':failed', k .. ':unsuccessful')
    redis.call('ZREM', KEYS[1], id)
    out[#out + 1] = id
  end
end
return out
