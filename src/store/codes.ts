/**
 * What our scripts return, by name. Each enum is named in its script's contract header
 * (`Codes: <Enum>`) with the same members and numbers; test/store-scripts.test.ts checks that
 * the two agree.
 */

/** lua/schedules/replace-schedule.lua */
export enum ReplaceScheduleCode {
  NotFound = 0,
  Replaced = 1,
}

/** lua/locks/hold-lock.lua */
export enum HoldLockCode {
  HeldByOther = 0,
  Held = 1,
}

/** lua/locks/release-lock.lua */
export enum ReleaseLockCode {
  NotHeld = 0,
  Released = 1,
}

/** lua/workflows/start-run.lua: the reply's first element. */
export enum StartRunCode {
  Created = 0,
  Exists = 1,
  Conflict = 2,
}

/** lua/workflows/step-done.lua: the reply's first element. */
export enum StepDoneCode {
  NotRecorded = 0,
  Recorded = 1,
}

/** lua/workflows/cancel-run.lua: the reply's first element. */
export enum CancelRunCode {
  Missing = 0,
  Found = 1,
}

/** lua/workflows/retake-step.lua */
export enum RetakeCode {
  NotTaken = 0,
  Taken = 1,
}

/** lua/tasks/cancel-queued.lua (a negative number is BullMQ's removeJob error) */
export enum CancelQueuedCode {
  Locked = 0,
  Cancelled = 1,
}

/** lua/tasks/requeue-failed.lua (a negative number is BullMQ's reprocessJob refusal) */
export enum RequeueFailedCode {
  Requeued = 1,
}

/**
 * lua/tasks/finish-plain-job.lua (otherwise BullMQ's moveToFinished reply: 0, the next job, or a
 * negative error)
 */
export enum FinishPlainJobCode {
  NeedsFull = 1,
}
