--[[
  BullMQ's stall check (moveStalledJobsToWait) with the `stalled` event of each job it queues
  again written in the same script: the event is on the stream before the job can be taken
  again, so a reader always sees a task's `stalled` before the `started` of its rerun. The
  attempt is the one that stalled (attempts made + 1, as BullMQ left it), which the rerun
  repeats.

  Input:
    KEYS[1..9] moveStalledJobsToWait's keys, in its order (src/store/bullmq/script-layouts.ts)
    KEYS[10] events   stream
    ARGV[1..4] moveStalledJobsToWait's arguments (ARGV[2] the queue's key prefix)
    ARGV[5] events_maxlen
    ARGV[6] class
    ARGV[7] pool_id   the pool that saw the stall

  Output:
    moveStalledJobsToWait's reply (the ids it queued again)

  Events: "stalled" per job queued again.
]]
--- @include "includes/server-clock"
--- @include "includes/task-event"
--- @include "includes/job-facts"
--- @include "includes/attempt-number"
--- @bullmq moveStalledJobsToWait as bullmqMoveStalledJobsToWait

local r = bullmqMoveStalledJobsToWait(KEYS, ARGV)
for _, id in ipairs(r) do
  local f = redis.call('HMGET', ARGV[2] .. id, 'data', 'atm', 'defa')
  local before, wf, sched = jobFacts(f[1] or '')
  local detail = f[3] and ('its pool stopped renewing the lock; queued again to fail: ' .. f[3]) or 'its pool stopped renewing the lock; queued again'
  local ev = taskEvent('stalled', id, ARGV[6], attemptNumber(before, f[2]), serverNowMs(), wf, ARGV[7], detail, sched)
  redis.call('XADD', KEYS[10], 'MAXLEN', '~', ARGV[5], '*', unpack(ev))
end
return r
