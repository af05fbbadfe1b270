--[[
  Forgets tasks of one class: their entries in the id index, the class's task list and the
  cancel marks (their jobs are gone or removed just before, remove-finished-tasks.lua).

  Input:
    KEYS[1] tasks         the id index hash, task_id -> "<class>\t<digest>"
    KEYS[2] task_list     the class's task list zset, task_id -> submit ms
    KEYS[3] cancel        hash task_id -> cancel reason
    ARGV[1..n] task_id    the tasks (at least one)

  Output:
    the number of index entries removed.

  Events: none.
]]
redis.call('ZREM', KEYS[2], unpack(ARGV))
redis.call('HDEL', KEYS[3], unpack(ARGV))
return redis.call('HDEL', KEYS[1], unpack(ARGV))
