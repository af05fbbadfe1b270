--[[
  What a task summary (ListTasks) needs from BullMQ, for tasks of one class: a few fields of
  each job's hash and which of the queue's sets holds it. Job keys are built from job_prefix, as
  BullMQ's own scripts do: they share the queue's hash tag.

  The workflow id and attemptsBefore are read from the tail of the job's data (TaskJobData,
  src/tasks/task-spec.ts, ends with them, after timeoutMs; workflowId last), so a large payload
  is neither decoded nor sent; payload values are strings, so an unquoted number after
  "attemptsBefore": can only be ours. The attempts allowed are read from the job's opts JSON.

  Input:
    KEYS[1] completed      the class queue's completed zset
    KEYS[2] failed         its failed zset
    KEYS[3] delayed        its delayed zset
    ARGV[1] job_prefix     the queue's job key prefix ("{<prefix>}:q:<class>:")
    ARGV[2..] task_id      one per task

  Output:
    12 strings per task, in the order of the ids:
      found            "1" when its job exists, else "0" and the other eleven empty
      state            c completed, f failed, d delayed, a active (its lock is held),
                       w waiting or prioritized
      timestamp        BullMQ's job timestamp (unused: the task list's score is the submit time)
      processed_on     processedOn, or ""
      finished_on      finishedOn, or ""
      attempts_made    atm, or ""
      failed_reason    failedReason, or ""
      attempts         opts.attempts, or ""
      priority         BullMQ's priority, or ""
      processed_by     pb (the worker that took it), or ""
      workflow_id      from the data's tail, or ""
      attempts_before  from the data's tail (attempts before the last manual retry), or ""

  Events: none (reads only).
]]
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local key = ARGV[1] .. id
  local f = redis.call('HMGET', key, 'timestamp', 'processedOn', 'finishedOn', 'atm', 'failedReason', 'opts', 'priority', 'pb', 'data')
  if not f[1] then
    for _ = 1, 12 do out[#out + 1] = '' end
    out[#out - 11] = '0'
  else
    local code = 'w'
    if redis.call('ZSCORE', KEYS[1], id) then code = 'c'
    elseif redis.call('ZSCORE', KEYS[2], id) then code = 'f'
    elseif redis.call('ZSCORE', KEYS[3], id) then code = 'd'
    elseif redis.call('EXISTS', key .. ':lock') == 1 then code = 'a' end
    local attempts = f[6] and string.match(f[6], '"attempts":(%d+)') or ''
    local tail = f[9] and string.sub(f[9], -400) or ''
    local wf = string.match(tail, '"workflowId":"([%w%._%-]+)"}$') or ''
    local before = string.match(tail, '"attemptsBefore":(%d+)[,}]') or ''
    local row = {'1', code, f[1], f[2] or '', f[3] or '', f[4] or '', f[5] or '', attempts, f[7] or '', f[8] or '', wf, before}
    for j = 1, 12 do out[#out + 1] = row[j] end
  end
end
return out
