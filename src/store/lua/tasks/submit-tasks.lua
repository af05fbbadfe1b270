--[[
  On a single Redis: claims a batch of task ids in the cross-class index (its buckets) and adds
  their tasks, all or nothing: when any id is already taken with different content nothing is
  written. A claimed task is added as includes/add-tasks adds it (task list entry, "submitted"
  event, count, job; the index value ends with its list entry id): the job is in its queue
  exactly when its id is claimed. A workflow step's task is created only while its step is
  releasing (includes/step-releasing), a schedule tick's only when the tick was not submitted
  yet (includes/schedule-tick). On a Redis Cluster the claim and the add are two scripts, on the
  index's slot and on the class's (tasks/claim-task-ids, tasks/submit-class-tasks).

  A stored index value of a previous version carries a longer digest, of which this version's is
  the prefix: a value that starts with the task's own is the same content.

  Input:
    KEYS[1] schedules_last  hash schedule_id -> "<tick ms>\t<task_id>"
    KEYS[2] schedules       hash schedule_id -> schedule record
    KEYS[3..] per class of the batch, CLASS_KEYS (14) keys from KEYS[c]:
      KEYS[c]          its task list (stream, entry field "t" = task_id)
      KEYS[c + 1..9]   its queue's marker, meta, id, prioritized, delayed, completed, active,
                       events, pc (BullMQ's)
      KEYS[c + 10..11] its queue's wait, paused (BullMQ's)
      KEYS[c + 12]     the class's events stream (src/store/codecs/feed-format.ts; one stream
                       for every class on a single Redis, one per class on a cluster)
      KEYS[c + 13]     the class's counters hash (one for every class on a single Redis, one
                       per class on a cluster: src/store/keys.ts countersOf)
      then, per workflow run of the batch, its steps hash
      then the index buckets of the batch's tasks, each once: hash task_id ->
        "<class>\t<digest>\t<list entry id>" (src/store/codecs/task-index.ts)
    ARGV[1] events_maxlen
    then per task i, TASK_ARGS (15) values from b = 1 + (i - 1) * TASK_ARGS:
      ARGV[b + 1]  task_id
      ARGV[b + 2]  index_value   "<class>\t<digest>" (the script appends "\t<list entry id>")
      ARGV[b + 3]  class
      ARGV[b + 4]  workflow_id   "" for none
      ARGV[b + 5]  delay_ms      "0" for none
      ARGV[b + 6]  schedule_id   "" for none
      ARGV[b + 7]  tick_ms       "" for none
      ARGV[b + 8]  c             KEYS index of its class's task list
      ARGV[b + 9]  job_args      a delayed task's: BullMQ's packed add arguments
                                 (src/store/codecs/job-data.ts); "" for the others
      ARGV[b + 10] job_data      the job data's JSON
      ARGV[b + 11] job_opts      the job options' JSON (src/store/codecs/job-data.ts encodeJob)
      ARGV[b + 12] job_name      the job's name
      ARGV[b + 13] timestamp     the job's creation time (ms)
      ARGV[b + 14] steps         KEYS index of its run's steps hash, 0 for a task of no run
      ARGV[b + 15] ix            KEYS index of its task index bucket

  Output:
    {0, v1, v2, ...}  vi: "" claimed now; "\ttick" (TICK_DONE) its schedule tick already
                      submitted a task (one since forgotten by retention); "\tstopped"
                      (STEP_STOPPED) its step is no longer releasing (not created); else the
                      index value it already had (the same content)
    {1, i, value}     task i is taken with different content, value: the index's; nothing written

  Events: "submitted" per claimed task (attempt 0; detail "delay_ms=<n>" for a delay).
]]
--- @include "includes/server-clock"
--- @include "includes/step-releasing"
local rcall = redis.call
--- @include "includes/add-delayed-task"
--- @include "includes/add-tasks"

local TICK_DONE = '\ttick'
local STEP_STOPPED = '\tstopped'

local schedulesLast, schedules = KEYS[1], KEYS[2]
local eventsMaxLen = ARGV[1]
local now = serverNowMs()
local n = (#ARGV - 1) / TASK_ARGS
local out = {0}
for i = 1, n do
  local id, indexValue, _, workflowId, _, scheduleId, tickMs, _, _, _, _, _, _, steps, ix = taskArgs(i)
  local v = rcall('HGET', KEYS[tonumber(ix)], id)
  if v and v ~= indexValue and string.sub(v, 1, #indexValue) ~= indexValue then return {1, i, v} end
  if not v and tickMs ~= '' and tickDone(schedulesLast, scheduleId, tickMs) then v = TICK_DONE end
  local g = tonumber(steps)
  if not v and g > 0 and not stepReleasing(KEYS[g], id, workflowId) then v = STEP_STOPPED end
  out[i + 1] = v or ''
end
for i = 1, n do
  if out[i + 1] == '' then
    local id, indexValue, _, _, _, _, _, _, _, _, _, _, _, _, ix = taskArgs(i)
    local entry = addTask(i, now, eventsMaxLen, schedulesLast, schedules)
    rcall('HSET', KEYS[tonumber(ix)], id, indexValue .. '\t' .. entry)
  end
end
flushAdds()
return out
