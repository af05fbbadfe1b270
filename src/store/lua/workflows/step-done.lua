--[[
  Records a step's final outcome and what follows from it: after a success, releases the
  dependents whose dependencies have now all succeeded; after a failure or cancel, under
  fail_fast stops the run (pending steps skipped, steps with tasks handed back to cancel), under
  continue skips the pending steps downstream; ends the run when no step is left open.
  An outcome applied again (its inbox entry was taken over because whoever applied it first
  stopped before acknowledging it) records nothing, but while its run is stopped and not yet
  over it hands back the queued steps, as cancel-run does: the first application may have died,
  or failed, before its cancels went out.

  Input:
    KEYS[1] run            hash: name, version, policy, digest, inputs (JSON), state, started_at,
                           finished_at, open (steps not yet final), failed (failed or cancelled
                           steps), stop ("" | "cancel" | "failure"), stop_reason
    KEYS[2] steps          hash step -> pending | releasing | queued | succeeded | failed |
                           cancelled | skipped
    KEYS[3] deps           hash step -> dependencies not yet succeeded
    KEYS[4] outcomes       hash step -> JSON {state, attempt, result?, error?, at}
    KEYS[5] events         stream
    KEYS[6] active runs    zset run_id -> start ms
    KEYS[7] releasing      zset "<run_id>\t<step_id>" -> ms it was released (or retaken)
    KEYS[8] run index      zset run_id -> start ms (every run retained)
    KEYS[9] staged         hash step -> msgpack of the step's staged releases (the field of
                           this step is deleted when its outcome is recorded)
    ARGV[1] now            ms
    ARGV[2] events_maxlen  MAXLEN ~ of the events stream
    ARGV[3] run_id
    ARGV[4] retention_ms   how long a finished run's keys are kept
    ARGV[5] step_id
    ARGV[6] state          succeeded | failed | cancelled
    ARGV[7] attempt
    ARGV[8] outcome        JSON {state, attempt, result?, error?, at} as stored in KEYS[4]
    ARGV[9] error          text for the event's detail ("" for none)
    ARGV[10] n             number of steps depending on this one directly
    ARGV[11] m             number of steps downstream of it
    ARGV[12] entry         the workflow inbox entry the outcome came from, "" for none (and
                           always "" on a Redis Cluster, where the inbox has a slot of its own)
    ARGV[13] group         the inbox's consumer group
    ARGV[14 .. 13 + n]     the steps depending on this one directly
    ARGV[14 + n .. 13 + n + m]
                           every step downstream of it (skipped after a failure under continue)
    ARGV[14 + n + m ..]    optional (single Redis only): the tasks of direct dependents this
                           outcome may release, as tasks/submit-tasks takes them (its ARGV from
                           the events MAXLEN on, their KEYS indexes into this call's KEYS)
    KEYS[10] inbox         stream (read only when ARGV[12] is not "")
    KEYS[11 ..]            with tasks given: tasks/submit-tasks's KEYS, from its schedules last
                           (KEYS[11]) and schedules (KEYS[12]) on: the class groups, the run's
                           steps hash, the index buckets

  A released step whose task was given, and whose task id the index does not hold yet, has its
  task added here as tasks/submit-tasks adds it and becomes queued at once (never releasing);
  any other released step becomes releasing, for the caller to submit (src/workflows/).
  The inbox entry is acknowledged and deleted here when no step is left for the caller to
  cancel: what it still has to do, submit steps left releasing, the engine's sweep takes over
  should the caller stop (the releasing zset).

  Output (Codes: StepDoneCode):
    0  NotRecorded  then {steps whose tasks to cancel}, acked: no such run or step, or already final
    1  Recorded     then {steps released (releasing)}, {steps whose tasks to cancel}, 1 if the
                    run ended else 0, {those to cancel that were releasing: their tasks may not
                    be added yet}, {steps queued here (their tasks added)}, acked
    acked: 1 if the inbox entry was acknowledged, else 0

  Events: workflow_step <state> (attempt ARGV[7]); workflow_step skipped per step skipped;
  workflow_run <final state> when the run ends; per task added here, what tasks/submit-tasks
  writes, then workflow_step queued (attempt 0).
]]
local rcall = redis.call
--- @include "includes/add-delayed-task"
--- @include "includes/apply-step-done"
return applyStepDone(KEYS, ARGV)
