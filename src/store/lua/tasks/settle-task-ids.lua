--[[
  On a Redis Cluster, the last step of a submission, on the task index's slot: each claimed id
  (tasks/claim-task-ids) whose task was added gets its list entry, "<class>\t<digest>\t<entry>";
  a claim whose task was not added (its schedule tick was already submitted, its workflow step
  stopped releasing, or another id of the batch conflicted) is released. Either is done only to
  a value still claimed with the same content and no list entry: a value completed, forgotten or
  taken since is left alone.

  Input:
    KEYS[1..]   the task index buckets of the tasks, each once, all of one slot
    then per task i, SETTLE_ARGS (4) values from b = (i - 1) * SETTLE_ARGS:
      ARGV[b + 1] task_id
      ARGV[b + 2] index_value  "<class>\t<digest>"
      ARGV[b + 3] entry        its task list entry id; "" to release the claim
      ARGV[b + 4] ix           KEYS index of its bucket

  Output:
    the number of values completed or released.

  Events: none.
]]
local SETTLE_ARGS = 4
local done = 0
for b = 0, #ARGV - 1, SETTLE_ARGS do
  local id, value, entry, bucket = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], KEYS[tonumber(ARGV[b + 4])]
  local v = redis.call('HGET', bucket, id)
  -- Claimed with this content and no list entry: "<value>\t\t<ms>".
  if v and string.sub(v, 1, #value + 2) == value .. '\t\t' then
    if entry == '' then
      redis.call('HDEL', bucket, id)
    else
      redis.call('HSET', bucket, id, value .. '\t' .. entry)
    end
    done = done + 1
  end
end
return done
