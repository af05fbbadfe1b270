--[[
  Defines writeOutcome(k, a, noInbox): a task's final outcome on the feeds, run by the scripts that end a
  task together with the change that ends it, so the feeds and BullMQ's state never disagree.
  Writes its final event, its result (also on the workflow inbox for a workflow's task) and the
  finished count. Its keys are the group KEYS[k..k+3] (src/store/outcome-writes.ts outcomeKeys)
  and its arguments ARGV[a..a+4] (outcomeArgv):
    KEYS[k]     events          ARGV[a]     events_maxlen
    KEYS[k + 1] results         ARGV[a + 1] results_maxlen
    KEYS[k + 2] counters        ARGV[a + 2] counter field ("<state>:<class>")
    KEYS[k + 3] workflow inbox  ARGV[a + 3] msgpack {event fields, result fields}
                                ARGV[a + 4] "1" when the result also goes to the workflow inbox
  noInbox: true when the caller applied a workflow step's outcome itself (includes/staged-step),
  so that no inbox entry is written even with ARGV[a + 4] "1".
]]
local function writeOutcome(k, a, noInbox)
  local f = cmsgpack.unpack(ARGV[a + 3])
  redis.call('XADD', KEYS[k], 'MAXLEN', '~', ARGV[a], '*', unpack(f[1]))
  redis.call('XADD', KEYS[k + 1], 'MAXLEN', '~', ARGV[a + 1], '*', unpack(f[2]))
  if ARGV[a + 4] == '1' and not noInbox then redis.call('XADD', KEYS[k + 3], '*', unpack(f[2])) end
  redis.call('HINCRBY', KEYS[k + 2], ARGV[a + 2], '1')
end
