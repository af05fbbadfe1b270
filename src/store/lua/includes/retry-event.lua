--[[
  Defines writeRetryEvent(r, k, a): after BullMQ's retry of a job (moveToDelayed, retryJob)
  answered r, writes the run's `retrying` event (and adds one to its counter) only when BullMQ's
  part moved the job, which it does only for the run holding the job's lock: a run that lost its
  lock writes no `retrying`. KEYS[k] events, KEYS[k + 1] counters; ARGV[a] "1" when an event
  follows, ARGV[a + 1] events MAXLEN, ARGV[a + 2] the event's fields (msgpack), ARGV[a + 3] the
  counter field or "".
]]
local function writeRetryEvent(r, k, a)
  if ARGV[a] == '1' and (type(r) ~= 'number' or r >= 0) then
    redis.call('XADD', KEYS[k], 'MAXLEN', '~', ARGV[a + 1], '*', unpack(cmsgpack.unpack(ARGV[a + 2])))
    if ARGV[a + 3] ~= '' then redis.call('HINCRBY', KEYS[k + 1], ARGV[a + 3], 1) end
  end
end
