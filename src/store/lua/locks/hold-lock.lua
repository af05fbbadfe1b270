--[[
  Takes a lock, or extends it when this owner holds it (the retention sweeper's,
  {<prefix>}:retention:lock).

  Input:
    KEYS[1] lock          string: the owner holding it, with a time to live
    ARGV[1] owner
    ARGV[2] ttl_ms        time to live from now

  Output (Codes: HoldLockCode):
    0  HeldByOther  another owner holds it: nothing changed
    1  Held         this owner holds it for ttl_ms from now

  Events: none.
]]
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 1 end
return 0
