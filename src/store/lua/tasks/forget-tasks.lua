--[[
  Forgets tasks of one class: their entries in the id index, the class's task list and the
  cancel marks (their jobs are gone or removed just before, remove-finished-tasks.lua). A task's
  list entry is the one its index value names (third field, codecs/task-index.ts); a value
  without one (not migrated) has none to delete.

  Input:
    KEYS[1] task_list     the class's task list stream (entry field "t" = task_id)
    KEYS[2] cancel        hash task_id -> cancel reason
    KEYS[2 + i] bucket    the task index bucket of ARGV[i] (keys.ts taskIndex), hash
                          task_id -> "<class>\t<digest>\t<list entry id>"
    ARGV[1..n] task_id    the tasks (at least one)

  Output:
    the number of index entries removed.

  Events: none.
]]
redis.call('HDEL', KEYS[2], unpack(ARGV))
local removed, entries = 0, {}
for i = 1, #ARGV do
  local v = redis.call('HGET', KEYS[2 + i], ARGV[i])
  if v then
    local entry = string.match(v, '^[^\t]*\t[^\t]*\t([0-9]+%-[0-9]+)')
    if entry then entries[#entries + 1] = entry end
    removed = removed + redis.call('HDEL', KEYS[2 + i], ARGV[i])
  end
end
-- The list entries go in one XDEL (a batch is at most 500 tasks: task-retention.ts BATCH).
if #entries > 0 then redis.call('XDEL', KEYS[1], unpack(entries)) end
return removed
