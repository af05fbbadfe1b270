--[[
  Defines takeNextJob(...): the next job for a pool's Worker, as BullMQ's moveToActive (and the
  fetchNextJob of its moveToFinished and moveToDelayed) takes it, built from BullMQ's own
  fragments, with one difference: the prioritized set is taken before the wait list. A task of
  priority 0 waits in the wait list (submit-tasks adds it with BullMQ's standard add, ~24 B where
  a prioritized entry costs ~120 B), every other task in the prioritized set, and a task with a
  priority must run before every task without one; BullMQ takes the wait list first. Within the
  wait list it is FIFO, within the set by priority then FIFO (BullMQ's score). A job a previous
  version queued with BullMQ priority 1001 (our priority 0) is in the set, after every task of
  priority > 0 and before the wait list's, which were all submitted after it.

  Everything else is BullMQ's, in BullMQ's order: due delayed jobs are promoted first (a retry's
  or a delay's job of priority 0 goes back to the wait list, any other to the set), then the
  rate limit and pause / global concurrency checks, then the lock, the job's "active" event and
  processedOn / attempts started (prepareJobForProcessing).

  takeNextJob(waitKey, activeKey, prioritizedKey, eventStreamKey, rateLimiterKey, delayedKey,
              metaKey, pcKey, markerKey, prefix, timestamp, opts)
    the keys and values BullMQ's fetchNextJob takes (opts: the unpacked worker options: token,
    lockDuration, limiter, name).

  Returns BullMQ's moveToActive reply: {job fields, job id, 0, 0} for a job taken; {0, 0, ttl, 0}
  when rate limited; {0, 0, 0, 0} when paused or at the global concurrency; {0, 0, 0, next delayed
  ms} when only delayed jobs wait; nil when there is no job at all.
]]
local rcall = redis.call
--- @bullmq-fragment getQueueMetadata
--- @bullmq-fragment promoteDelayedJobs
--- @bullmq-fragment getRateLimitTTL
--- @bullmq-fragment moveJobFromPrioritizedToActive
--- @bullmq-fragment prepareJobForProcessing
--- @bullmq-fragment getNextDelayedTimestamp

local function takeNextJob(waitKey, activeKey, prioritizedKey, eventStreamKey, rateLimiterKey, delayedKey,
                           metaKey, pcKey, markerKey, prefix, timestamp, opts)
  local isPausedOrMaxed, rateLimitMax, rateLimitDuration = getQueueMetadata(metaKey, activeKey, waitKey)
  -- BullMQ promotes on every take; an EXISTS first spares its range query (and the formatting of
  -- its four numeric arguments) on the common take with nothing delayed.
  if rcall('EXISTS', delayedKey) == 1 then
    promoteDelayedJobs(delayedKey, markerKey, waitKey, prioritizedKey, eventStreamKey, prefix, timestamp, pcKey, isPausedOrMaxed)
  end
  local maxJobs = tonumber(rateLimitMax or (opts['limiter'] and opts['limiter']['max']))
  local expireTime = getRateLimitTTL(maxJobs, rateLimiterKey)
  if expireTime > 0 then return {0, 0, expireTime, 0} end
  if isPausedOrMaxed then return {0, 0, 0, 0} end
  local limiterDuration = (opts['limiter'] and opts['limiter']['duration']) or rateLimitDuration
  -- The prioritized set first (ZCARD spares the counter's DEL BullMQ's fragment does on an empty set).
  local jobId
  if rcall('ZCARD', prioritizedKey) > 0 then jobId = moveJobFromPrioritizedToActive(prioritizedKey, activeKey, pcKey) end
  if not jobId then
    jobId = rcall('RPOPLPUSH', waitKey, activeKey)
    -- A marker left in the wait list by a BullMQ before v5 (as BullMQ's moveToActive skips it).
    if jobId and string.sub(jobId, 1, 2) == '0:' then
      rcall('LREM', activeKey, 1, jobId)
      jobId = rcall('RPOPLPUSH', waitKey, activeKey)
    end
  end
  if jobId then
    return prepareJobForProcessing(prefix, rateLimiterKey, eventStreamKey, jobId, timestamp, maxJobs, limiterDuration, markerKey, opts)
  end
  local nextTimestamp = getNextDelayedTimestamp(delayedKey)
  if nextTimestamp ~= nil then return {0, 0, 0, nextTimestamp} end
end
