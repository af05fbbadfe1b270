--[[
  BullMQ's moveToActive for a pool's Worker, with the start of the attempt it hands over
  (includes/attempt-start): the "started" event and the look-up of a cancel requested while the
  task waited, in the same call.

  Input:
    KEYS[1..11] moveToActive's keys, in its order (src/store/bullmq/script-layouts.ts)
    KEYS[12] events   stream
    KEYS[13] cancel   hash task_id -> cancel reason
    ARGV[1..3] moveToActive's arguments
    ARGV[4] events_maxlen
    ARGV[5] class
    ARGV[6] pool_id

  Output:
    moveToActive's reply; a job handed over carries our fields appended to its own
    (includes/attempt-start)

  Events: "started" for the job handed over.
]]
--- @include "includes/attempt-start"
--- @bullmq moveToActive as bullmqMoveToActive

local r = bullmqMoveToActive(KEYS, ARGV)
attemptStart(r, 12, 13, 4)
return r
