--[[
  Writes a batch of attempt starts for jobs a pool fetched outside the scripts that hand a job
  over (BullMQ's moveToDelayed fetching the next job after a retry's backoff): each attempt's
  "started" event, and a look-up of a cancel requested while the task waited (a pool that was
  down may have missed the cancel message).

  Input:
    KEYS[1] events   stream
    KEYS[2] cancel   hash task_id -> cancel reason
    ARGV[1] events_maxlen
    then per start, from ARGV[i] (i = 2 for the first):
      ARGV[i]      task_id
      ARGV[i + 1]  n, the number of event fields that follow
      ARGV[i + 2 .. i + 1 + n]  the "started" event's fields (src/store/codecs/feed-format.ts)

  Output:
    per start, its task's cancel reason, or nil (false) when none was requested

  Events: "started" per start.
]]
local out = {}
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, i + 2, i + 1 + n))
  out[#out + 1] = redis.call('HGET', KEYS[2], ARGV[i]) or false
  i = i + 2 + n
end
return out
