--[[
  On a Redis Cluster, the index part of forgetting tasks (tasks/forget-tasks on a single Redis):
  removes their entries from the task index buckets of one slot and returns the list entries
  their values named, for the class part (its task list and cancel marks, on the class's slot,
  src/store/tasks/forget-tasks.ts).

  Input:
    KEYS[1..]   the task index buckets of the tasks, each once, all of one slot
    then per task i, two values from b = (i - 1) * 2:
      ARGV[b + 1] task_id
      ARGV[b + 2] ix        KEYS index of its bucket

  Output:
    {removed, entry1, entry2, ...}  how many index entries went, and the list entry ids their
                                    values named (a claim without one names none)

  Events: none.
]]
local out = {0}
for b = 0, #ARGV - 1, 2 do
  local bucket, id = KEYS[tonumber(ARGV[b + 2])], ARGV[b + 1]
  local v = redis.call('HGET', bucket, id)
  if v then
    local entry = string.match(v, '^[^\t]*\t[^\t]*\t([0-9]+%-[0-9]+)')
    if entry then out[#out + 1] = entry end
    out[1] = out[1] + redis.call('HDEL', bucket, id)
  end
end
return out
