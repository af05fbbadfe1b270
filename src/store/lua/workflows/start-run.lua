--[[
  Creates a workflow run: its header, its steps (those without dependencies released at once,
  the others pending with their dependency counts), its staged releases (single Redis:
  src/store/workflows/staged-steps.ts, applied by the pool that finishes a staged step,
  includes/staged-step), and its entries in the active runs and the run index. A run id already
  taken changes nothing.

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
    KEYS[9] staged         hash step -> msgpack of the step's staged releases
    ARGV[1] now            ms
    ARGV[2] events_maxlen  MAXLEN ~ of the events stream
    ARGV[3] run_id
    ARGV[4] retention_ms   how long a finished run's keys are kept
    ARGV[5] digest         of the workflow name, version and inputs (same run id, other content:
                           Conflict)
    ARGV[6] name           workflow name
    ARGV[7] version        workflow version
    ARGV[8] policy         failure policy: fail_fast | continue
    ARGV[9] inputs         JSON of the run's inputs
    ARGV[10] n             number of steps
    then per step (group width 2, from ARGV[11]):
    ARGV[s + 0] step_id
    ARGV[s + 1] deps       number of dependencies
    then per staged step (group width 2, from ARGV[11 + 2n]; none on a Redis Cluster):
    ARGV[g + 0] step_id
    ARGV[g + 1] record     msgpack of its staged releases

  Output (Codes: StartRunCode):
    0  Created   then the steps released now (their tasks are the caller's to submit)
    1  Exists    then the run's state (same digest: the same run started again)
    2  Conflict  then the existing run's workflow name (another digest): nothing written

  Events: workflow_run running.
]]
--- @include "includes/run-event"
--- @include "includes/release-step"
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'digest') ~= ARGV[5] then return {2, redis.call('HGET', KEYS[1], 'name') or ''} end
  return {1, redis.call('HGET', KEYS[1], 'state')}
end
local n = tonumber(ARGV[10])
redis.call('HSET', KEYS[1], 'name', ARGV[6], 'version', ARGV[7], 'policy', ARGV[8], 'digest', ARGV[5], 'inputs', ARGV[9],
  'state', 'running', 'started_at', NOW, 'finished_at', '0', 'open', n, 'failed', 0, 'stop', '', 'stop_reason', '')
runEvent('running', '')
local out = {0}
for i = 0, n - 1 do
  local step, deps = ARGV[11 + 2 * i], ARGV[12 + 2 * i]
  if deps == '0' then
    releaseStep(step)
    out[#out + 1] = step
  else
    redis.call('HSET', KEYS[2], step, 'pending')
    redis.call('HSET', KEYS[3], step, deps)
  end
end
for g = 11 + 2 * n, #ARGV, 2 do redis.call('HSET', KEYS[9], ARGV[g], ARGV[g + 1]) end
redis.call('ZADD', KEYS[6], NOW, RUN)
redis.call('ZADD', KEYS[8], NOW, RUN)
return out
