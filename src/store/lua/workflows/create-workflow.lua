--[[
  Stores a new version of a workflow: the name's next version number, the definition under it
  with that number filled in, and the name's latest version in the workflows zset. Versions are
  immutable once written.

  Input:
    KEYS[1] workflow       hash: latest -> version number, "<version>" -> definition JSON
    KEYS[2] workflows      zset name -> latest version
    ARGV[1] definition     JSON opening with "version":0 (src/workflows/workflow-store.ts puts
                           it first), rewritten here with the version it gets
    ARGV[2] name

  Output:
    the new version number

  Events: none.
]]
local v = redis.call('HINCRBY', KEYS[1], 'latest', 1)
local def = string.gsub(ARGV[1], '"version":0', '"version":' .. v, 1)
redis.call('HSET', KEYS[1], tostring(v), def)
redis.call('ZADD', KEYS[2], v, ARGV[2])
return v
