--[[
  Takes over workflow inbox entries other consumers of the group left unfinished, in one step
  so that deciding and claiming see the same state. Of up to `count` pending entries idle at
  least `min_idle_ms`, from `start` on, each delivered `max_deliveries` times already is copied
  to the dead-letter stream (`inbox_id` and `deliveries` in front of its fields), acknowledged
  and deleted; the others are claimed for `consumer` (which counts a delivery). An entry no
  longer in the inbox is acknowledged.

  Input:
    KEYS[1] inbox          stream of finished step tasks (result records), group ARGV[1]
    KEYS[2] dead           dead-letter stream
    ARGV[1] group
    ARGV[2] consumer
    ARGV[3] min_idle_ms
    ARGV[4] max_deliveries
    ARGV[5] count
    ARGV[6] dead_maxlen    MAXLEN ~ of the dead-letter stream
    ARGV[7] start          of the pending-entries range ("-", or "(<last id looked at>")

  Output:
    {dead: {id, deliveries, fields}..., claimed: {id, fields}..., last id looked at ("" for
    none), number of entries looked at}

  Events: none (a dead-lettered entry goes to KEYS[2], not to the events stream).
]]
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], ARGV[7], '+', ARGV[5])
local dead, claim = {}, {}
for _, p in ipairs(pending) do
  local id, n = p[1], p[4]
  if n >= tonumber(ARGV[4]) then
    local e = redis.call('XRANGE', KEYS[1], id, id)[1]
    if e then
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'inbox_id', id, 'deliveries', n, unpack(e[2]))
      dead[#dead + 1] = {id, n, e[2]}
    end
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
  else
    claim[#claim + 1] = id
  end
end
local claimed = {}
if #claim > 0 then
  for _, e in ipairs(redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], unpack(claim))) do
    if type(e) == 'table' and e[2] then claimed[#claimed + 1] = e end
  end
end
local last = pending[#pending]
return {dead, claimed, last and last[1] or '', #pending}
