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

/** lua/tasks/cancel-queued.lua (a negative number is BullMQ's removeJob error) */
export enum CancelQueuedCode {
  Locked = 0,
  Cancelled = 1,
}

/** lua/tasks/requeue-failed.lua (a negative number is BullMQ's reprocessJob refusal) */
export enum RequeueFailedCode {
  Requeued = 1,
}
