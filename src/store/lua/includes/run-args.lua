--[[
  The arguments every workflow run script takes first (src/store/workflows/run-script-args.ts),
  by name, and the run's keys:
    KEYS[1] run       KEYS[2] steps     KEYS[3] deps      KEYS[4] outcomes
    KEYS[5] events    KEYS[6] active    KEYS[7] releasing KEYS[8] run index
    KEYS[9] staged
    ARGV[1] now ms, ARGV[2] events MAXLEN, ARGV[3] run id, ARGV[4] retention ms of a finished run

  The run fragments (release-step, end-step, stop-run, finish-run, queued-steps, step-event,
  run-event) read the run's keys from RK (RK[1..9], in that order) and its values from NOW,
  MAXLEN, RUN and KEEP: by default this script's KEYS and ARGV[1..4]. A script whose own KEYS and
  ARGV have another layout (a pool's finish: tasks/finish-plain-job) calls useRunArgs(k, a) with
  a table of the run's nine keys and one of the four values before it calls any of them.
]]
local RK = KEYS
local NOW, MAXLEN, RUN, KEEP = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local function useRunArgs(k, a)
  RK = k
  NOW, MAXLEN, RUN, KEEP = a[1], a[2], a[3], a[4]
end
