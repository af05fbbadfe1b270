--[[
  Defines attemptStart(r, e, c, a): when BullMQ's reply r (moveToActive's, or moveToFinished's
  fetching the next job) hands a job to this pool, writes the attempt's "started" event to
  KEYS[e] and appends STARTED_FIELD ("1") and, when the hash KEYS[c] holds a cancel requested
  for the task, CANCEL_FIELD (its reason) to the job's fields in the reply
  (src/store/bullmq/task-backend.ts PendingStarts takes them off before BullMQ reads them).
  ARGV[a], ARGV[a + 1], ARGV[a + 2]: events MAXLEN, the class, the pool id.
]]
--- @include "includes/server-clock"
--- @include "includes/task-event"
--- @include "includes/job-facts"
--- @include "includes/attempt-number"

local STARTED_FIELD = 'orqStarted'
local CANCEL_FIELD = 'orqCancel'

local function attemptStart(r, e, c, a)
  if type(r) ~= 'table' or type(r[1]) ~= 'table' or not r[2] or r[2] == 0 or r[2] == '0' or r[2] == '' then return end
  local h = r[1]
  local data, atm = '', 0
  for i = 1, #h, 2 do
    if h[i] == 'data' then data = h[i + 1] elseif h[i] == 'atm' then atm = h[i + 1] end
  end
  local before, wf, sched = jobFacts(data)
  local ev = taskEvent('started', r[2], ARGV[a + 1], attemptNumber(before, atm), serverNowMs(), wf, ARGV[a + 2], nil, sched)
  redis.call('XADD', KEYS[e], 'MAXLEN', '~', ARGV[a], '*', unpack(ev))
  h[#h + 1] = STARTED_FIELD; h[#h + 1] = '1'
  local cancel = redis.call('HGET', KEYS[c], r[2])
  if cancel then h[#h + 1] = CANCEL_FIELD; h[#h + 1] = cancel end
end
