--[[
  BullMQ's moveToDelayed (a retry with backoff, or a hand-back) for a pool's Worker, with the
  run's `retrying` event (and counter) written only when BullMQ's part moved the job
  (includes/retry-event). BullMQ's part is told not to fetch (ARGV[8] set to "0"): a next job
  is taken after it by includes/take-next-job, prioritized tasks first (as move-to-active).

  Input:
    KEYS[1..11] moveToDelayed's keys, in its order (src/store/bullmq/script-layouts.ts); the
                next job's take reads KEYS[1] marker, KEYS[2] active, KEYS[3] prioritized,
                KEYS[4] delayed, KEYS[6] BullMQ's events, KEYS[7] meta, KEYS[9] wait,
                KEYS[10] rate limiter, KEYS[11] pc
    KEYS[12] events     stream
    KEYS[13] counters   hash (its class's: src/store/keys.ts countersOf)
    ARGV[1..9] moveToDelayed's arguments; ARGV[1] key prefix, ARGV[2] timestamp,
               ARGV[8] fetch next ("1"), ARGV[9] opts
    ARGV[10] has_event      "1" when an event follows
    ARGV[11] events_maxlen
    ARGV[12] event          its fields (msgpack)
    ARGV[13] counter        the counter field, or ""

  Output:
    moveToDelayed's reply: 0, the next job as a table (fetch next), or BullMQ's error (< 0)

  Events: "retrying" when given and BullMQ moved the job.
]]
--- @include "includes/retry-event"
--- @include "includes/take-next-job"
--- @bullmq moveToDelayed as bullmqMoveToDelayed

local fetchNext = ARGV[8] == '1'
ARGV[8] = '0'
local r = bullmqMoveToDelayed(KEYS, ARGV)
if r == 0 and fetchNext then
  -- As BullMQ's: only a job taken is answered; otherwise 0.
  local next = takeNextJob(KEYS[9], KEYS[2], KEYS[3], KEYS[6], KEYS[10], KEYS[4], KEYS[7], KEYS[11], KEYS[1], ARGV[1], ARGV[2],
    cmsgpack.unpack(ARGV[9]))
  if next and type(next[1]) == 'table' then r = next end
end
writeRetryEvent(r, 12, 10)
return r
