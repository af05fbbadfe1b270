/**
 * The Lua scripts that move a workflow run forward. Every change of a run's or a step's state
 * happens inside one of them, together with its event on the events stream, so a reader that
 * takes a snapshot and the stream's last id in one MULTI sees a consistent picture, and two
 * orchestrators driving the same run can never both release a step.
 *
 * Keys, the same for every script (all share the `{<prefix>}` hash tag):
 *   KEYS[1] run hash      name, version, policy, digest, inputs (JSON), state, started_at,
 *                         finished_at, open (steps not yet final), failed (failed or cancelled
 *                         steps), stop ("" | "cancel" | "failure"), stop_reason
 *   KEYS[2] steps hash    step -> pending | releasing | queued | succeeded | failed | cancelled | skipped
 *   KEYS[3] deps hash     step -> dependencies not yet succeeded
 *   KEYS[4] outcomes hash step -> JSON {state, attempt, result?, error?, at}
 *   KEYS[5] events stream
 *   KEYS[6] active runs zset
 *   KEYS[7] releasing zset "<run>\t<step>" -> ms
 *   KEYS[8] run index zset run -> start ms (every run retained; START_RUN adds, run-list.ts prunes)
 * Common ARGV: [1] now ms, [2] events MAXLEN, [3] run id, [4] retention ms of a finished run.
 *
 * Step life: pending -> releasing (its dependencies succeeded: exactly one caller got it back
 * and submits its task) -> queued (the task is in its queue) -> a final state. A caller that
 * dies while releasing leaves the step in the releasing zset, where the engine's sweep finds it.
 */

const PRELUDE = `
local NOW, MAXLEN, RUN, KEEP = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local FINAL = {succeeded = true, failed = true, cancelled = true, skipped = true}

local function stepEvent(step, state, attempt, detail)
  local f = {'type', 'workflow_step', 'task_id', RUN .. '.' .. step, 'attempt', attempt, 'at', NOW,
    'workflow_id', RUN, 'step_id', step, 'state', state}
  if detail ~= '' then f[#f + 1] = 'detail'; f[#f + 1] = detail end
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', MAXLEN, '*', unpack(f))
end

local function runEvent(state, detail)
  local f = {'type', 'workflow_run', 'task_id', '', 'attempt', '0', 'at', NOW, 'workflow_id', RUN, 'state', state}
  if detail ~= '' then f[#f + 1] = 'detail'; f[#f + 1] = detail end
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', MAXLEN, '*', unpack(f))
end

local function release(step)
  redis.call('HSET', KEYS[2], step, 'releasing')
  redis.call('ZADD', KEYS[7], NOW, RUN .. '\\t' .. step)
end

-- A step that ends without (further) running: skipped, or cancelled before its task ran.
local function endStep(step, state, detail)
  if redis.call('HGET', KEYS[2], step) == 'releasing' then redis.call('ZREM', KEYS[7], RUN .. '\\t' .. step) end
  redis.call('HSET', KEYS[2], step, state)
  redis.call('HSET', KEYS[4], step, cjson.encode({state = state, attempt = 0, error = detail, at = tonumber(NOW)}))
  stepEvent(step, state, '0', detail)
  redis.call('HINCRBY', KEYS[1], 'open', -1)
end

-- Ends the run once no step is open.
local function maybeFinish()
  if tonumber(redis.call('HGET', KEYS[1], 'open')) > 0 then return 0 end
  local state = 'succeeded'
  if redis.call('HGET', KEYS[1], 'stop') == 'cancel' then state = 'cancelled'
  elseif tonumber(redis.call('HGET', KEYS[1], 'failed')) > 0 then state = 'failed' end
  redis.call('HSET', KEYS[1], 'state', state, 'finished_at', NOW)
  runEvent(state, redis.call('HGET', KEYS[1], 'stop_reason'))
  redis.call('ZREM', KEYS[6], RUN)
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], KEEP) end
  return 1
end

-- Stops a run early: steps that have not started end as pendingState; returns the steps whose
-- tasks may exist and must be cancelled.
local function stopRun(kind, reason, pendingState)
  redis.call('HSET', KEYS[1], 'stop', kind, 'stop_reason', reason)
  local all = redis.call('HGETALL', KEYS[2])
  local cancel = {}
  for i = 1, #all, 2 do
    local step, st = all[i], all[i + 1]
    if st == 'pending' then endStep(step, pendingState, reason)
    elseif st == 'releasing' then endStep(step, pendingState, reason); cancel[#cancel + 1] = step
    elseif st == 'queued' then cancel[#cancel + 1] = step end
  end
  return cancel
end

local function queuedSteps()
  local all = redis.call('HGETALL', KEYS[2])
  local out = {}
  for i = 1, #all, 2 do if all[i + 1] == 'queued' then out[#out + 1] = all[i] end end
  return out
end
`;

/**
 * Creates a run. ARGV[5] digest, [6] workflow name, [7] version, [8] failure policy,
 * [9] inputs JSON, then per step: step id, number of dependencies.
 * Returns {"created", steps released now...} | {"exists", state} | {"conflict", name}.
 */
export const START_RUN = `${PRELUDE}
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'digest') ~= ARGV[5] then return {'conflict', redis.call('HGET', KEYS[1], 'name') or ''} end
  return {'exists', redis.call('HGET', KEYS[1], 'state')}
end
local n = (#ARGV - 9) / 2
redis.call('HSET', KEYS[1], 'name', ARGV[6], 'version', ARGV[7], 'policy', ARGV[8], 'digest', ARGV[5], 'inputs', ARGV[9],
  'state', 'running', 'started_at', NOW, 'finished_at', '0', 'open', n, 'failed', 0, 'stop', '', 'stop_reason', '')
runEvent('running', '')
local out = {'created'}
for i = 0, n - 1 do
  local step, deps = ARGV[10 + 2 * i], ARGV[11 + 2 * i]
  if deps == '0' then
    release(step)
    out[#out + 1] = step
  else
    redis.call('HSET', KEYS[2], step, 'pending')
    redis.call('HSET', KEYS[3], step, deps)
  end
end
redis.call('ZADD', KEYS[6], NOW, RUN)
redis.call('ZADD', KEYS[8], NOW, RUN)
return out
`;

/**
 * Records a step's final outcome. ARGV[5] step, [6] succeeded | failed | cancelled, [7] attempt,
 * [8] outcome JSON, [9] error text, [10] n, then the n steps depending on it directly, then every
 * step downstream of it (skipped after a failure under the "continue" policy).
 * Returns {0, {steps whose tasks to cancel}} when there is nothing to record (no such run or
 * step, or already final), else {1, {steps released}, {steps whose tasks to cancel}, 1 if the run
 * ended}.
 * An outcome applied again (its inbox entry was taken over because whoever applied it first
 * stopped before acknowledging it) records nothing, but while its run is stopped and not yet
 * over it hands back the queued steps, as CANCEL_RUN does: the first application may have
 * died, or failed, before its cancels went out.
 */
export const STEP_DONE = `${PRELUDE}
local run = redis.call('HGET', KEYS[1], 'state')
if not run then return {0, {}} end
local step, state = ARGV[5], ARGV[6]
local cur = redis.call('HGET', KEYS[2], step)
if not cur then return {0, {}} end
if FINAL[cur] then
  if run == 'running' and redis.call('HGET', KEYS[1], 'stop') ~= '' then return {0, queuedSteps()} end
  return {0, {}}
end
if cur == 'releasing' then redis.call('ZREM', KEYS[7], RUN .. '\\t' .. step) end
redis.call('HSET', KEYS[2], step, state)
redis.call('HSET', KEYS[4], step, ARGV[8])
stepEvent(step, state, ARGV[7], ARGV[9])
redis.call('HINCRBY', KEYS[1], 'open', -1)
local released, cancel = {}, {}
local n = tonumber(ARGV[10])
local stop = redis.call('HGET', KEYS[1], 'stop')
if state == 'succeeded' then
  if stop == '' then
    for i = 11, 10 + n do
      local d = ARGV[i]
      if redis.call('HINCRBY', KEYS[3], d, -1) == 0 and redis.call('HGET', KEYS[2], d) == 'pending' then
        release(d)
        released[#released + 1] = d
      end
    end
  end
else
  if stop ~= 'cancel' then redis.call('HINCRBY', KEYS[1], 'failed', 1) end
  if stop == '' then
    local reason = 'step ' .. step .. ' ' .. state
    if redis.call('HGET', KEYS[1], 'policy') == 'fail_fast' then
      cancel = stopRun('failure', reason, 'skipped')
    else
      for i = 11 + n, #ARGV do
        if redis.call('HGET', KEYS[2], ARGV[i]) == 'pending' then endStep(ARGV[i], 'skipped', 'upstream ' .. reason) end
      end
    end
  end
end
return {1, released, cancel, maybeFinish()}
`;

/**
 * Marks released steps whose tasks are now in their queues as queued. ARGV[5...] step ids.
 * Returns the steps that ended meanwhile (the run stopped) and whose new tasks must be cancelled.
 */
export const MARK_QUEUED = `${PRELUDE}
local cancel = {}
for i = 5, #ARGV do
  local step = ARGV[i]
  local st = redis.call('HGET', KEYS[2], step)
  if st == 'releasing' then
    redis.call('ZREM', KEYS[7], RUN .. '\\t' .. step)
    redis.call('HSET', KEYS[2], step, 'queued')
    stepEvent(step, 'queued', '0', '')
  elseif st == 'skipped' or st == 'cancelled' then
    cancel[#cancel + 1] = step
  end
end
return cancel
`;

/**
 * Cancels a run. ARGV[5] reason.
 * Returns {"missing"} | {state after, {steps whose tasks to cancel}}.
 */
export const CANCEL_RUN = `${PRELUDE}
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {'missing'} end
if st ~= 'running' then return {st, {}} end
if redis.call('HGET', KEYS[1], 'stop') ~= '' then return {st, queuedSteps()} end
local cancel = stopRun('cancel', 'cancelled: ' .. ARGV[5], 'cancelled')
maybeFinish()
return {redis.call('HGET', KEYS[1], 'state'), cancel}
`;

/**
 * Takes over a step left releasing by a caller that did not finish (it died, or lost Redis).
 * ARGV[5] step, [6] cutoff ms: only an entry not touched since then is taken, so of several
 * sweepers exactly one gets it. Returns 1 when taken.
 */
export const RETAKE = `${PRELUDE}
local member = RUN .. '\\t' .. ARGV[5]
local at = redis.call('ZSCORE', KEYS[7], member)
if not at or tonumber(at) > tonumber(ARGV[6]) then return 0 end
if redis.call('HGET', KEYS[2], ARGV[5]) ~= 'releasing' then
  redis.call('ZREM', KEYS[7], member)
  return 0
end
redis.call('ZADD', KEYS[7], NOW, member)
return 1
`;
