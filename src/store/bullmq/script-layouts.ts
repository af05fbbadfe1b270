/**
 * The BullMQ scripts our code runs or wraps, and the layout it was written for: each script's
 * keys in order (named as the script's own `KEYS[n]` header comment names them) and its
 * arguments in order (its `ARGV[n]` header lines), as recorded from BullMQ 6.7.0.
 *
 * Our Lua calls these scripts with keys and arguments by position, and our TypeScript reads
 * their arguments by position (a job id, a lock token), so a BullMQ that renames, reorders or
 * adds one breaks us silently, even with the same key count (BullMQ has shipped two versions of
 * one script with the same count and another order). The start-up guard
 * (startup-guard.ts) compares this table with the installed scripts and refuses to start on a
 * difference. Names are kept lower-case, without quotes or commas (normalizeSlotName).
 *
 * Contract: change an entry only together with every caller of that script (README "Upgrading
 * BullMQ").
 */

export interface BullScriptLayout {
  /** Key names in KEYS order. */
  readonly keys: readonly string[];
  /** Argument names in ARGV order. */
  readonly args: readonly string[];
}

export const BULLMQ_SCRIPT_LAYOUTS = {
  addPrioritizedJob: {
    keys: ['marker', 'meta', 'id', 'prioritized', 'delayed', 'completed', 'active', 'events stream key', 'pc priority counter'],
    args: ['msgpacked arguments array', 'json stringified job data', 'msgpacked options'],
  },
  addStandardJob: {
    keys: ['wait', 'paused', 'meta', 'id', 'completed', 'delayed', 'active', 'events stream key', 'marker key'],
    args: ['msgpacked arguments array', 'json stringified job data', 'msgpacked options'],
  },
  addDelayedJob: {
    keys: ['marker', 'meta', 'id', 'delayed', 'completed', 'events stream key'],
    args: ['msgpacked arguments array', 'json stringified job data', 'msgpacked options'],
  },
  removeJob: {
    keys: ['jobkey', 'repeat key'],
    args: ['jobid', 'remove children', 'queue prefix'],
  },
  reprocessJob: {
    keys: ['job key', 'events stream', 'job state', 'wait key', 'meta', 'active key', 'marker key', 'prioritized key', 'priority counter key'],
    args: [
      'job.id',
      '(job.opts.lifo ? r : l) + push',
      'propval - failedreason/returnvalue',
      'prev state - failed/completed',
      'reset attemptsmade - 1 or 0',
      'reset attemptsstarted - 1 or 0',
    ],
  },
  moveToActive: {
    keys: [
      'wait key',
      'active key',
      'prioritized key',
      'stream events key',
      'stalled key',
      'rate limiter key',
      'delayed key',
      'paused key',
      'meta key',
      'pc priority counter',
      'marker key',
    ],
    args: ['key prefix', 'timestamp', 'opts'],
  },
  moveToFinished: {
    keys: [
      'wait key',
      'active key',
      'prioritized key',
      'event stream key',
      'stalled key',
      'rate limiter key',
      'delayed key',
      'paused key',
      'meta key',
      'pc priority counter',
      'completed/failed key',
      'jobid key',
      'metrics key',
      'marker key',
    ],
    args: [
      'jobid',
      'timestamp',
      'msg property returnvalue / failedreason',
      'return value / failed reason',
      'target (completed/failed)',
      'fetch next?',
      'keys prefix',
      'opts',
      'job fields to update',
    ],
  },
  moveStalledJobsToWait: {
    keys: [
      'stalled (set)',
      'wait (list)',
      'active (list)',
      'stalled-check (key)',
      'meta (key)',
      'paused (list)',
      'marker',
      'event stream (stream)',
      'repeat key',
    ],
    args: ['max stalled job count', 'queue.tokey()', 'timestamp', 'max check time'],
  },
  moveToDelayed: {
    keys: [
      'marker key',
      'active key',
      'prioritized key',
      'delayed key',
      'job key',
      'events stream',
      'meta key',
      'stalled key',
      'wait key',
      'rate limiter key',
      'pc priority counter',
    ],
    args: [
      'key prefix',
      'timestamp',
      'the id of the job',
      'queue token',
      'delay value',
      'skip attempt',
      'optional job fields to update',
      'fetch next?',
      'opts',
    ],
  },
  retryJob: {
    keys: ['active', 'wait', 'paused', 'job key', 'meta', 'events stream', 'delayed key', 'prioritized key', 'pc priority counter', 'marker', 'stalled'],
    args: ['key prefix', 'timestamp', 'pushcmd', 'jobid', 'token', 'optional job fields to update'],
  },
} as const satisfies Record<string, BullScriptLayout>;

/**
 * The functions of BullMQ's Lua includes (`commands/includes/<name>.lua`) our own scripts are built
 * from and call (`--- @bullmq-fragment name` in src/store/lua/: the pools' take of the next job,
 * lua/includes/take-next-job.lua; the submit script's add of a job not delayed; the pools' plain
 * finish, lua/tasks/finish-plain-job.lua), each with its
 * parameters in order, as BullMQ 6.7.0 defines them. The start-up guard compares them with the
 * installed includes' `local function` lines. What a fragment includes in turn comes with it
 * (BullMQ's own code, consistent within one version) and is not listed.
 */
export const BULLMQ_FRAGMENTS = {
  getQueueMetadata: ['queueMetaKey', 'activeKey', 'waitKey'],
  promoteDelayedJobs: ['delayedKey', 'markerKey', 'targetKey', 'prioritizedKey', 'eventStreamKey', 'prefix', 'timestamp', 'priorityCounterKey', 'isPaused'],
  getRateLimitTTL: ['maxJobs', 'rateLimiterKey'],
  moveJobFromPrioritizedToActive: ['priorityKey', 'activeKey', 'priorityCounterKey'],
  prepareJobForProcessing: ['keyPrefix', 'rateLimiterKey', 'eventStreamKey', 'jobId', 'processedOn', 'maxJobs', 'limiterDuration', 'markerKey', 'opts'],
  getNextDelayedTimestamp: ['delayedKey'],
  addBaseMarkerIfNeeded: ['markerKey', 'isPausedOrMaxed'],
  addJobInTargetList: ['targetKey', 'markerKey', 'pushCmd', 'isPausedOrMaxed', 'jobId'],
  addJobWithPriority: ['markerKey', 'prioritizedKey', 'priority', 'jobId', 'priorityCounterKey', 'isPausedOrMaxed'],
  getPriorityScore: ['priority', 'priorityCounterKey'],
  getOrSetMaxEvents: ['metaKey'],
  removeLock: ['jobKey', 'stalledKey', 'token', 'jobId'],
  updateJobFields: ['jobKey', 'msgpackedFields'],
  trimEvents: ['metaKey', 'eventStreamKey'],
  isQueuePausedOrMaxed: ['queueMetaKey', 'activeKey'],
  storeJob: ['eventsKey', 'jobIdKey', 'jobId', 'name', 'data', 'opts', 'timestamp', 'parentKey', 'parentData', 'repeatJobKey'],
  handleDuplicatedJob: [
    'jobKey',
    'jobId',
    'currentParentKey',
    'currentParent',
    'parentData',
    'parentDependenciesKey',
    'completedKey',
    'eventsKey',
    'maxEvents',
    'timestamp',
    'deferParentRelease',
  ],
} as const satisfies Record<string, readonly string[]>;

/** A BullMQ Lua include our scripts are built from. */
export type BullFragmentName = keyof typeof BULLMQ_FRAGMENTS;

/** A BullMQ script our code depends on. */
export type BullScriptName = keyof typeof BULLMQ_SCRIPT_LAYOUTS;

/** How many keys BullMQ's script `name` takes. */
export function bullKeyCount(name: BullScriptName): number {
  return BULLMQ_SCRIPT_LAYOUTS[name].keys.length;
}

/** How many arguments BullMQ's script `name` takes. */
export function bullArgCount(name: BullScriptName): number {
  return BULLMQ_SCRIPT_LAYOUTS[name].args.length;
}

/**
 * The 1-based ARGV position of argument `arg` of BullMQ's script `name`, by its recorded name:
 * callers that read an argument by position name it, so the table is the one place positions live.
 */
export function bullArgIndex(name: BullScriptName, arg: string): number {
  const i = (BULLMQ_SCRIPT_LAYOUTS[name].args as readonly string[]).indexOf(arg);
  if (i < 0) throw new Error(`BullMQ's ${name} has no recorded argument "${arg}"`);
  return i + 1;
}

/** A header slot's name as the table keeps it: lower-case, quotes and commas dropped, one space. */
export function normalizeSlotName(raw: string): string {
  return raw
    .replace(/['",`]/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase();
}
