--[[
  One page of a zset scored by time, newest first, after a cursor: the run index
  ({<prefix>}:runs:index, ListWorkflowRuns; the task lists are streams, read by
  src/store/lists/stream-newest-first.ts). Entries are ordered by (score, member) descending; those strictly after
  (cursor_score, cursor_id) are returned. Members compare bytewise, as the zset orders them; only
  entries sharing the cursor's score (one batch submitted in the same millisecond) are skipped
  one by one. Reads the range in chunks of count + 64 entries until it has `count` or the range
  ends.

  Input:
    KEYS[1] list          zset member -> ms
    ARGV[1] max           highest score to include, or "+inf"
    ARGV[2] min           lowest score to include, or "-inf"
    ARGV[3] cursor_score  the cursor's score, "" for none (first page)
    ARGV[4] cursor_id     the cursor's member
    ARGV[5] count         most entries to return

  Output:
    {member1, score1, member2, score2, ...}, at most `count` pairs, newest first.

  Events: none (reads only).
]]
local function before(a, b)
  local la, lb = #a, #b
  for i = 1, math.min(la, lb) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return la < lb
end
local want = tonumber(ARGV[5]) * 2
local chunk = tonumber(ARGV[5]) + 64
local cursor = ARGV[3] ~= '' and tonumber(ARGV[3]) or nil
local out = {}
local offset = 0
while true do
  local r = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES', 'LIMIT', offset, chunk)
  for i = 1, #r, 2 do
    if cursor == nil or tonumber(r[i + 1]) < cursor or before(r[i], ARGV[4]) then
      out[#out + 1] = r[i]
      out[#out + 1] = r[i + 1]
      if #out >= want then return out end
    end
  end
  if #r < chunk * 2 then return out end
  offset = offset + chunk
end
