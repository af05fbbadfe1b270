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
