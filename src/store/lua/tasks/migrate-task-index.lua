--[[
  Moves a batch of entries of the previous versions' one-hash task index into the index buckets
  (keys.ts taskIndex). Each entry is read here, not taken from the caller, so a batch listed
  before an interruption moves what is there now; an entry already in its bucket keeps the
  bucket's value (a batch run twice changes nothing more). The value moves unchanged: its long
  digest still matches (the submit script compares by prefix).

  Input:
    KEYS[1] legacy          hash task_id -> "<class>\t<digest>", the previous index
    KEYS[1 + i] bucket      the index bucket of ARGV[i]
    ARGV[1..n] task_id      the entries to move (at least one)

  Output:
    the number of entries moved (taken from the legacy hash).

  Events: none.
]]
local moved = 0
for i = 1, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v then
    redis.call('HSETNX', KEYS[1 + i], ARGV[i], v)
    redis.call('HDEL', KEYS[1], ARGV[i])
    moved = moved + 1
  end
end
return moved
