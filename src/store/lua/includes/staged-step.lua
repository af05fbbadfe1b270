--[[
  A workflow step's success applied by the pool's finish of its task (tasks/finish-plain-job;
  tasks/move-to-finished says why not there), single Redis only: when the run's start staged the step's releases
  (src/store/workflows/staged-steps.ts: its direct dependents, each depending on it alone, and
  their tasks rendered and validated then, as tasks/submit-tasks takes them), the outcome is
  recorded with exactly step-done's logic (includes/apply-step-done), the dependents' tasks added
  and their steps queued, all in the finish's own call, and no workflow inbox entry is written:
  the engine has nothing left to do. In every other case the caller writes the inbox entry as
  before and the engine applies the outcome.

  Defines stagedStepFunctions(), which returns two functions (defined only by a call that has a
  step to apply: the fragments they need are most of step-done, and a finish defines every one
  of its functions in each call, that of a task of no run too):
    stagedStep(rk, step)   the step's staged record (unpacked) when it applies now, else nil: it
                           exists (rk[9]), the run (rk[1]) is running and not stopping, the step
                           (rk[2]) is queued or releasing (not final), and every dependent it
                           names is pending with this step as its one dependency left (rk[3])
                           and its task id free in the index, so that step-done's logic queues
                           every one of them (none is left releasing with no caller to submit it)
    applyStaged(rk, inbox, rec, run, step, attempt, outcome, now)
                           applies it; returns step-done's reply
  rk: the run's nine keys (includes/run-args order); inbox: the workflow inbox (not written).

  A staged record is a msgpack array {dependents, keys, values, retention ms}: keys and values
  are tasks/submit-tasks's KEYS (from its schedules last on) and ARGV (from its events MAXLEN on)
  for the dependents' tasks, their KEYS indexes counting from 10 as in workflows/step-done's
  KEYS (the run's nine and the inbox before them). Those keys come from Redis, not from the
  script's KEYS: the pool cannot know a run's plan. They share the `{<prefix>}` hash tag with
  every key the script is given (a single Redis has one), and nothing is ever staged on a Redis
  Cluster (the staged hash stays empty there and the pool sends no step section).

  The including script defines `rcall` (redis.call) before this include.
]]

-- Where a staged record's keys start in step-done's KEYS (after the run's nine and the inbox).
local STAGED_KEYS_BEFORE = 10

local function stagedStepFunctions()
--- @include "includes/apply-step-done"

  -- The record, decoded, when its shape is the one staged-steps.ts writes: dependents (strings),
  -- keys (strings), values (strings or numbers: the events MAXLEN then TASK_ARGS per task, as
  -- many tasks as dependents, none delayed, each naming keys the record has and job options that
  -- decode to an object), a retention in ms. Anything else (a record of another version, or one
  -- anybody who can write to Redis changed) is nil, and the step takes the inbox's way: no error
  -- may stop the finish halfway.
  local function decodeRecord(raw)
    local ok, rec = pcall(cmsgpack.unpack, raw)
    if not ok or type(rec) ~= 'table' then return nil end
    local deps, keys, values = rec[1], rec[2], rec[3]
    if type(deps) ~= 'table' or type(keys) ~= 'table' or type(values) ~= 'table' or not tonumber(rec[4]) then return nil end
    if #deps == 0 or #values ~= 1 + #deps * TASK_ARGS or not tonumber(values[1]) then return nil end
    for _, d in ipairs(deps) do
      if type(d) ~= 'string' then return nil end
    end
    for _, k in ipairs(keys) do
      if type(k) ~= 'string' then return nil end
    end
    for i = 1, #values do
      local t = type(values[i])
      if t ~= 'string' and t ~= 'number' then return nil end
    end
    local key = function(ix)
      local n = tonumber(ix)
      return n and keys[n - STAGED_KEYS_BEFORE]
    end
    for b = 1, #values - 1, TASK_ARGS do
      -- The task's values (includes/add-tasks taskArgs order): delay "0", no schedule tick, its
      -- class's KEYS group (14 keys from the 8th value on), job options a JSON object, and its
      -- index bucket (the last).
      local c = tonumber(values[b + 8])
      if not c or not key(c) or not key(c + 13) or not key(values[b + TASK_ARGS]) or tostring(values[b + 5]) ~= '0' or values[b + 7] ~= '' then return nil end
      local okOpts, opts = pcall(cjson.decode, values[b + 11])
      if not okOpts or type(opts) ~= 'table' then return nil end
    end
    return rec
  end

  local function stagedStep(rk, step)
    local raw = rcall('HGET', rk[9], step)
    if not raw then return nil end
    local h = rcall('HMGET', rk[1], 'state', 'stop')
    if h[1] ~= 'running' or h[2] ~= '' then return nil end
    local cur = rcall('HGET', rk[2], step)
    if cur ~= 'queued' and cur ~= 'releasing' then return nil end
    local rec = decodeRecord(raw)
    if not rec then return nil end
    for _, d in ipairs(rec[1]) do
      if rcall('HGET', rk[2], d) ~= 'pending' or rcall('HGET', rk[3], d) ~= '1' then return nil end
    end
    local keys, values = rec[2], rec[3]
    for b = 1, #values - 1, TASK_ARGS do
      -- A task's id (its first value) and its index bucket's KEYS index (its last).
      if rcall('HEXISTS', keys[tonumber(values[b + TASK_ARGS]) - STAGED_KEYS_BEFORE], values[b + 1]) == 1 then return nil end
    end
    return rec
  end

  local function applyStaged(rk, inbox, rec, run, step, attempt, outcome, now)
    local K = {}
    for i = 1, 9 do K[i] = rk[i] end
    K[STAGED_KEYS_BEFORE] = inbox
    for i, k in ipairs(rec[2]) do K[STAGED_KEYS_BEFORE + i] = k end
    local deps, values = rec[1], rec[3]
    -- step-done's ARGV: the run's values (its events MAXLEN the tasks' own), the outcome (no
    -- downstream steps after a success), no inbox entry, the dependents, then the tasks.
    local A = {now, values[1], run, rec[4], step, 'succeeded', attempt, outcome, '', tostring(#deps), '0', '', ''}
    for _, d in ipairs(deps) do A[#A + 1] = d end
    local tasks = #A + 1
    for _, v in ipairs(values) do A[#A + 1] = v end
    -- A job's creation time is its release's, as when the engine renders it then (the 13th value).
    local ts = serverNowMs()
    for b = tasks, #A - 1, TASK_ARGS do A[b + 13] = ts end
    return applyStepDone(K, A)
  end

  return stagedStep, applyStaged
end
