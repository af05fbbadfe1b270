--[[
  Appends entries to a task's log (BullMQ's job log list, src/tasks/task-log-format.ts), only
  while the task's job exists, so that no log list outlives its task. RPUSH goes in slices:
  `unpack` of thousands of values overflows Lua's C stack.

  Input:
    KEYS[1] job    the job's hash
    KEYS[2] logs   its log list (`<job key>:logs`)
    ARGV[1..] the entries, appended in order

  Output:
    the list's new length, or -1 when the job is gone (a cancel removed it while queued,
    retention or PurgeTasks removed it): then nothing is written

  Events: none.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = 0
for i = 1, #ARGV, 1000 do
  n = redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return n
