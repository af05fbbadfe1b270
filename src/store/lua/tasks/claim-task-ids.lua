--[[
  On a Redis Cluster, the first step of a submission: claims task ids in the task index buckets
  of one slot (keys.ts TASK_INDEX_SLOTS), all or nothing: when any id is already taken with
  different content nothing is written. A claimed id's value has no list entry yet and carries
  the claim's time instead: "<class>\t<digest>\t\t<ms>" (codecs/task-index.ts). Its task is added
  next, on its class's slot (tasks/submit-class-tasks), and the value then gets its list entry
  (tasks/settle-task-ids); a claim whose task was never added (the front end stopped in between)
  is completed by a submission of the same content, which adds it.

  A stored index value of a previous version carries a longer digest, of which this version's is
  the prefix: a value that starts with the task's own is the same content.

  Input:
    KEYS[1..]   the task index buckets of the tasks, each once, all of one slot
    then per task i, CLAIM_ARGS (3) values from b = (i - 1) * CLAIM_ARGS:
      ARGV[b + 1] task_id
      ARGV[b + 2] index_value  "<class>\t<digest>"
      ARGV[b + 3] ix           KEYS index of its bucket

  Output:
    {0, v1, v2, ...}  vi: "" claimed now; else the value it already had (the same content)
    {1, i, value}     task i is taken with different content, value: the index's; nothing written

  Events: none.
]]
--- @include "includes/server-clock"
local CLAIM_ARGS = 3
local n = #ARGV / CLAIM_ARGS
local out = {0}
for i = 1, n do
  local b = (i - 1) * CLAIM_ARGS
  local id, value = ARGV[b + 1], ARGV[b + 2]
  local v = redis.call('HGET', KEYS[tonumber(ARGV[b + 3])], id)
  if v and v ~= value and string.sub(v, 1, #value) ~= value then return {1, i, v} end
  out[i + 1] = v or ''
end
local claimed = nil
for i = 1, n do
  if out[i + 1] == '' then
    claimed = claimed or ('\t\t' .. serverNowMs())
    local b = (i - 1) * CLAIM_ARGS
    redis.call('HSET', KEYS[tonumber(ARGV[b + 3])], ARGV[b + 1], ARGV[b + 2] .. claimed)
  end
end
return out
