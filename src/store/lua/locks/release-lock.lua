--[[
  Releases a lock only when this owner still holds it (hold-lock.lua's).

  Input:
    KEYS[1] lock          string: the owner holding it
    ARGV[1] owner

  Output (Codes: ReleaseLockCode):
    0  NotHeld   this owner did not hold it: nothing changed
    1  Released

  Events: none.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
