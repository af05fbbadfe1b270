--[[
  Takes over a step left releasing by a caller that did not finish (it died, or lost Redis):
  only an entry of the releasing zset not touched since the cutoff is taken (its score becomes
  now), so of several sweepers exactly one gets it. An entry whose step is no longer releasing
  is removed.

  Input:
    KEYS[1] run            hash: name, version, policy, digest, inputs (JSON), state, started_at,
                           finished_at, open (steps not yet final), failed (failed or cancelled
                           steps), stop ("" | "cancel" | "failure"), stop_reason
    KEYS[2] steps          hash step -> pending | releasing | queued | succeeded | failed |
                           cancelled | skipped
    KEYS[3] deps           hash step -> dependencies not yet succeeded
    KEYS[4] outcomes       hash step -> JSON {state, attempt, result?, error?, at}
    KEYS[5] events         stream
    KEYS[6] active runs    zset run_id -> start ms
    KEYS[7] releasing      zset "<run_id>\t<step_id>" -> ms it was released (or retaken)
    KEYS[8] run index      zset run_id -> start ms (every run retained)
    ARGV[1] now            ms
    ARGV[2] events_maxlen  MAXLEN ~ of the events stream
    ARGV[3] run_id
    ARGV[4] retention_ms   how long a finished run's keys are kept
    ARGV[5] step_id
    ARGV[6] cutoff         ms: entries released or retaken after it are left alone

  Output (Codes: RetakeCode):
    0  NotTaken
    1  Taken     the step is the caller's to submit

  Events: none.
]]
--- @include "includes/run-args"
local member = RUN .. '\t' .. ARGV[5]
local at = redis.call('ZSCORE', KEYS[7], member)
if not at or tonumber(at) > tonumber(ARGV[6]) then return 0 end
if redis.call('HGET', KEYS[2], ARGV[5]) ~= 'releasing' then
  redis.call('ZREM', KEYS[7], member)
  return 0
end
redis.call('ZADD', KEYS[7], NOW, member)
return 1
