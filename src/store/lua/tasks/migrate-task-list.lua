--[[
  Moves a batch of entries of a class's previous task list (a zset task_id -> submit ms) into
  its task list stream, oldest first: each gets an entry at its submit ms (after a newer entry
  already in the stream, Redis's own id instead), and its index value, in the previous one-hash
  index or already in its bucket, gets the entry's id appended as its third field
  (codecs/task-index.ts). An entry without an index value is only dropped. Each entry is read
  here, so a batch listed before an interruption moves what is there now; a moved entry leaves
  the zset in the same script, so a batch applied twice moves nothing twice.

  Input:
    KEYS[1] legacy_list     zset task_id -> submit ms, the previous task list
    KEYS[2] list            the class's task list stream (entry field "t" = task_id)
    KEYS[3] legacy_index    hash task_id -> "<class>\t<digest>", the previous index
    KEYS[3 + i] bucket      the index bucket of ARGV[i]
    ARGV[1..n] task_id      entries of legacy_list, lowest score first (at least one)

  Output:
    the number of entries taken from the zset.

  Events: none.
]]
local moved = 0
for i = 1, #ARGV do
  local id = ARGV[i]
  local score = redis.call('ZSCORE', KEYS[1], id)
  if score then
    local index = KEYS[3]
    local v = redis.call('HGET', index, id)
    if not v then
      index = KEYS[3 + i]
      v = redis.call('HGET', index, id)
    end
    if v then
      local ms = string.match(score, '^%d+$') or string.format('%d', math.max(0, math.floor(tonumber(score))))
      local entry = redis.pcall('XADD', KEYS[2], ms .. '-*', 't', id)
      if type(entry) == 'table' then entry = redis.call('XADD', KEYS[2], '*', 't', id) end
      redis.call('HSET', index, id, v .. '\t' .. entry)
    end
    redis.call('ZREM', KEYS[1], id)
    moved = moved + 1
  end
end
return moved
