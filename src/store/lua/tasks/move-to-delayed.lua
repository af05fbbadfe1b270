--[[
  BullMQ's moveToDelayed (a retry with backoff, or a hand-back) for a pool's Worker, with the
  run's `retrying` event (and counter) written only when BullMQ's part moved the job
  (includes/retry-event).

  Input:
    KEYS[1..11] moveToDelayed's keys, in its order (src/store/bullmq/script-layouts.ts)
    KEYS[12] events     stream
    KEYS[13] counters   hash
    ARGV[1..9] moveToDelayed's arguments
    ARGV[10] has_event      "1" when an event follows
    ARGV[11] events_maxlen
    ARGV[12] event          its fields (msgpack)
    ARGV[13] counter        the counter field, or ""

  Output:
    moveToDelayed's reply

  Events: "retrying" when given and BullMQ moved the job.
]]
--- @include "includes/retry-event"
--- @bullmq moveToDelayed as bullmqMoveToDelayed

local r = bullmqMoveToDelayed(KEYS, ARGV)
writeRetryEvent(r, 12, 10)
return r
