--[[
  Everything GetTaskStatus needs, in one call on a single Redis (src/store/tasks/read-task-status.ts):
  the task's index value, its cancel mark, its job's hash and which of its queue's places holds
  the job, read at one instant. The class comes from the index value, and the job's keys are built
  from the queue prefix and the class, as BullMQ's own scripts build job keys: on a single Redis
  every key of the system shares its hash tag. (On a Redis Cluster a class's keys have a tag of
  their own, so the reader reads the index first and the job after.)

  The place is BullMQ's getState's (commands/getStateV2-8.lua), in its order: completed, failed,
  delayed, prioritized, active, waiting (wait or paused list), waiting-children, unknown.

  Input:
    KEYS[1] index        the task index bucket holding the task (keys.ts taskIndex)
    KEYS[2] cancel       the cancel marks hash
    ARGV[1] task_id
    ARGV[2] queue_prefix BullMQ's prefix of the queues ("{<prefix>}:q")

  Output:
    { index_value or false, cancel_reason or false, state or false, field, value, field, value, ... }
    state and the job's fields (its whole hash) only when the index names a class of the
    form [a-z0-9_]+ and its job exists.

  Events: none (reads only).
]]
local id = ARGV[1]
local entry = redis.call('HGET', KEYS[1], id)
local reason = redis.call('HGET', KEYS[2], id)
if not entry then return {false, reason} end
local class = string.match(entry, '^([a-z0-9_]+)\t') or string.match(entry, '^([a-z0-9_]+)$')
if not class then return {entry, reason, false} end
local q = ARGV[2] .. ':' .. class .. ':'
local job = redis.call('HGETALL', q .. id)
if #job == 0 then return {entry, reason, false} end
local state = 'unknown'
if redis.call('ZSCORE', q .. 'completed', id) then state = 'completed'
elseif redis.call('ZSCORE', q .. 'failed', id) then state = 'failed'
elseif redis.call('ZSCORE', q .. 'delayed', id) then state = 'delayed'
elseif redis.call('ZSCORE', q .. 'prioritized', id) then state = 'prioritized'
elseif redis.call('LPOS', q .. 'active', id) then state = 'active'
elseif redis.call('LPOS', q .. 'wait', id) or redis.call('LPOS', q .. 'paused', id) then state = 'waiting'
elseif redis.call('ZSCORE', q .. 'waiting-children', id) then state = 'waiting-children'
end
local out = {entry, reason, state}
for i = 1, #job do out[i + 3] = job[i] end
return out
