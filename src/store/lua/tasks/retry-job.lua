--[[
  BullMQ's retryJob (a retry without backoff) for a pool's Worker, with the run's `retrying`
  event (and counter) written only when BullMQ's part moved the job (includes/retry-event).

  Input:
    KEYS[1..11] retryJob's keys, in its order (src/store/bullmq/script-layouts.ts)
    KEYS[12] events     stream
    KEYS[13] counters   hash (its class's: src/store/keys.ts countersOf)
    ARGV[1..6] retryJob's arguments
    ARGV[7] has_event       "1" when an event follows
    ARGV[8] events_maxlen
    ARGV[9] event           its fields (msgpack)
    ARGV[10] counter        the counter field, or ""

  Output:
    retryJob's reply

  Events: "retrying" when given and BullMQ moved the job.
]]
--- @include "includes/retry-event"
--- @bullmq retryJob as bullmqRetryJob

local r = bullmqRetryJob(KEYS, ARGV)
writeRetryEvent(r, 12, 7)
return r
