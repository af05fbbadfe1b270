--[[
  Marks released steps whose tasks are now in their queues as queued (they leave the releasing
  zset). A step that ended meanwhile (its run stopped: skipped or cancelled) is handed back, its
  new task to be cancelled; any other step is left as it is.

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
    ARGV[5 ..] step_id     the steps submitted

  Output:
    the steps whose new tasks must be cancelled

  Events: workflow_step queued (attempt 0) per step marked.
]]
--- @include "includes/step-event"
local cancel = {}
for i = 5, #ARGV do
  local step = ARGV[i]
  local st = redis.call('HGET', KEYS[2], step)
  if st == 'releasing' then
    redis.call('ZREM', KEYS[7], RUN .. '\t' .. step)
    redis.call('HSET', KEYS[2], step, 'queued')
    stepEvent(step, 'queued', '0', '')
  elseif st == 'skipped' or st == 'cancelled' then
    cancel[#cancel + 1] = step
  end
end
return cancel
