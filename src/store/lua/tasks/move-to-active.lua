--[[
  A pool's Worker takes its next job: BullMQ's moveToActive, called with its keys and arguments,
  but the job taken by includes/take-next-job (built from BullMQ's fragments: prioritized tasks
  before the wait list's tasks of priority 0), with the start of the attempt it hands over
  (includes/attempt-start): the "started" event and the look-up of a cancel requested while the
  task waited, in the same call.

  Input:
    KEYS[1..11] moveToActive's keys, in its order (src/store/bullmq/script-layouts.ts):
      KEYS[1] wait, KEYS[2] active, KEYS[3] prioritized, KEYS[4] BullMQ's events,
      KEYS[5] stalled, KEYS[6] rate limiter, KEYS[7] delayed, KEYS[8] paused, KEYS[9] meta,
      KEYS[10] pc, KEYS[11] marker
    KEYS[12] events   stream
    KEYS[13] cancel   hash task_id -> cancel reason
    ARGV[1..3] moveToActive's arguments: ARGV[1] key prefix, ARGV[2] timestamp, ARGV[3] opts
    ARGV[4] events_maxlen
    ARGV[5] class
    ARGV[6] pool_id

  Output:
    moveToActive's reply; a job handed over carries our fields appended to its own
    (includes/attempt-start)

  Events: "started" for the job handed over (and BullMQ's "active", and "waiting" per delayed job
  promoted, on BullMQ's stream).
]]
--- @include "includes/take-next-job"
--- @include "includes/attempt-start"

local r = takeNextJob(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6], KEYS[7], KEYS[9], KEYS[10], KEYS[11], ARGV[1], ARGV[2],
  cmsgpack.unpack(ARGV[3])) or {0, 0, 0, 0}
attemptStart(r, 12, 13, 4)
return r
