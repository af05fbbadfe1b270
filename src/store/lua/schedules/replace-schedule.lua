--[[
  Replaces a stored schedule's record, only if the schedule still exists (a delete that landed
  since the caller read it wins).

  Input:
    KEYS[1] schedules      hash schedule_id -> JSON of the stored schedule
    ARGV[1] schedule_id
    ARGV[2] record         the new JSON (src/schedules/schedule-spec.ts StoredSchedule)

  Output (Codes: ReplaceScheduleCode):
    0  NotFound  no such schedule: nothing written
    1  Replaced

  Events: none.
]]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
