--[[
  The arguments every workflow run script takes first (src/store/workflows/run-script-args.ts),
  by name, and the run's keys:
    KEYS[1] run       KEYS[2] steps     KEYS[3] deps      KEYS[4] outcomes
    KEYS[5] events    KEYS[6] active    KEYS[7] releasing KEYS[8] run index
    ARGV[1] now ms, ARGV[2] events MAXLEN, ARGV[3] run id, ARGV[4] retention ms of a finished run
]]
local NOW, MAXLEN, RUN, KEEP = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
