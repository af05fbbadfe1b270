--[[
  Forgets tasks of one class: their entries in the id index, the class's task list and the
  cancel marks (their jobs are gone or removed just before, remove-finished-tasks.lua).

  Input:
    KEYS[1] task_list     the class's task list zset, task_id -> submit ms
    KEYS[2] cancel        hash task_id -> cancel reason
    KEYS[2 + i] bucket    the task index bucket of ARGV[i] (keys.ts taskIndex), hash
                          task_id -> "<class>\t<digest>"
    ARGV[1..n] task_id    the tasks (at least one)

  Output:
    the number of index entries removed.

  Events: none.
]]
redis.call('ZREM', KEYS[1], unpack(ARGV))
redis.call('HDEL', KEYS[2], unpack(ARGV))
local removed = 0
for i = 1, #ARGV do
  removed = removed + redis.call('HDEL', KEYS[2 + i], ARGV[i])
end
return removed
