/**
 * Every Redis key Orchestrator writes, in one place. `prefix` comes from config (default "orq").
 *
 * - On a single Redis every key shares the hash tag `{<prefix>}`, BullMQ's too: one Lua script can
 *   update our keys and a queue's together (a pool commits an attempt's outcome to the feeds in
 *   the same script as BullMQ's finish, src/store/bullmq/task-backend.ts). On a Redis Cluster
 *   (`keys(prefix, { cluster: true })`) each class's keys have a tag of their own,
 *   `{<prefix>:<class>}`, written in the names below where a class's key says `{<prefix>}`
 *   (`{orq:gpu}:q:gpu:<id>`, `{orq:gpu}:events:gpu`): every per-task script takes one class's
 *   keys (test/class-slot-keys.test.ts), so classes spread over the shards. A class of N partitions
 *   (`classes.<name>.partitions`, KeysOptions.partitions) has its keys N times: partition 0 under
 *   `{<prefix>:<class>}`, partition p > 0 under `{<prefix>:<class>:<p>}`, the same names after the
 *   tag; a task's keys are its partition's (taskPartition of its id). The task index gets
 *   TASK_INDEX_SLOTS tags of its own; what spans classes (pools, workflows' runs, schedules'
 *   records, limits, locks) keeps `{<prefix>}`.
 * - BullMQ queues: prefix `{<prefix>}:q` and queue name `<class>` (keys `{orq}:q:<class>:...`).
 *   A task's logs are its job's BullMQ log list, `{orq}:q:<class>:<task_id>:logs`
 *   (src/tasks/task-log-format.ts), removed with the job.
 * - `{<prefix>}:ix:<n>`  hash task_id -> "<class>\t<digest>\t<list entry>" (codecs/task-index.ts),
 *                      on a Redis Cluster `{<prefix>:ix:<n % 16>}:ix:<n>` (TASK_INDEX_SLOTS),
 *                      n in 0..TASK_INDEX_BUCKETS-1: the cross-class id index that makes ids
 *                      unique across classes and submissions idempotent, in buckets small enough
 *                      for Redis's compact listpack encoding (one hash of 100,000 fields is a
 *                      hashtable at ~114 B a field; in buckets ~80 B with 100,000 tasks, the list
 *                      entry id included). A task's bucket is taskIndexBucket(task_id), a
 *                      function of the id alone.
 * - `{<prefix>}:tasks`   the previous versions' index, one hash; moved into the buckets at start
 *                      (src/tasks/task-index-migration.ts) and then gone.
 * - `{<prefix>}:migrate:lock` string: the orchestrator moving the previous index now.
 * - `{<prefix>}:list:<class>` stream, one entry per task, field `t` = task_id: the class's tasks
 *                      in submit order, for ListTasks. The entry id's ms is the submit time (Redis's
 *                      clock); the task's index value names its entry (codecs/task-index.ts), so
 *                      forgetting a task deletes its entry (XDEL). ~40 B a task against ~120 B
 *                      in a sorted set.
 * - `{<prefix>}:tasks:<class>` the previous versions' task list, a zset task_id -> submit ms;
 *                      moved into the stream at start (src/tasks/task-index-migration.ts).
 * - `{<prefix>}:retention:lock` string: the orchestrator applying retention now (src/tasks/task-retention.ts).
 * - `{<prefix>}:cancel`  hash task_id -> reason: cancellations requested (read by pools). On a Redis
 *   Cluster one hash per class, `{<prefix>}:cancel:<class>`, read and written with the class's
 *   queue (CancelTask finds a task's class in the index first).
 * - `{<prefix>}:cancel:ch` pub/sub channel: "<task_id>\t<reason>" for each cancel just requested.
 * - The feeds (format in src/store/codecs/feed-format.ts). On a single Redis: `{<prefix>}:events`
 *   and `{<prefix>}:results`, every class's entries in the two. On a Redis Cluster
 *   (`keys(prefix, { cluster: true })`): one events and one results stream per class,
 *   `{<prefix>}:events:<class>` and `{<prefix>}:results:<class>`, written with the class's queue
 *   and task keys so that a class's per-task writes stay one script when a class gets its own slot;
 *   `{<prefix>}:events` then holds only workflow_run and workflow_step events (written with the
 *   run's keys). Readers merge the streams (src/feeds/merged-feed.ts) behind one cursor
 *   (src/feeds/feed-cursor.ts). A class name matches [a-z0-9_]+, so no class stream is ever
 *   taken for another key.
 * - `{<prefix>}:counters` hash "<submitted|succeeded|failed|cancelled|retried|timed_out>:<class>"
 *   -> count (retried and timed_out count attempts, the others tasks). On a Redis Cluster each
 *   class counts in a hash of its own, `{<prefix>}:counters:<class>` (same fields), written by the
 *   scripts that write the class's feeds, so that no per-task script needs a key shared by every
 *   class; readers add up counterKeys(classes), `{<prefix>}:counters` among them (what a cluster
 *   counted before the split stays counted).
 * - `{<prefix>}:slurm:<task_id>:<attempt>` the Slurm job id of an attempt (written by store/slurm/,
 *   read by workers/slurm-job-ids.ts).
 * - `{<prefix>}:pools`   zset pool_id -> last heartbeat ms; `<prefix>:pool:<id>` hash of its facts
 *   (src/pools/pool-facts.ts; written by store/pools/); `{<prefix>}:pools:gone` zset pool_id -> ms it left cleanly;
 *   `{<prefix>}:pools:drain` hash pool_id -> "stay" | "exit" (drains requested, DrainPool) and
 *   `{<prefix>}:pools:drain:ch` its pub/sub channel (message: the pool id).
 * - Workflows (src/workflows/): `{<prefix>}:wfdef:<name>` hash of a workflow's versions,
 *   `{<prefix>}:workflows` zset name -> latest version, `{<prefix>}:run:<id>` and its
 *   `:steps`, `:deps`, `:out` hashes, its `:staged` hash (single Redis: step -> the tasks of its
 *   direct dependents, rendered at the run's start, which the pool that finishes the step adds;
 *   deleted when the run ends), `{<prefix>}:runs:active` zset, `{<prefix>}:wf:inbox`
 *   stream of finished step tasks (on a Redis Cluster one per class, `{<prefix>}:inbox:<class>`,
 *   written with the class's feeds; the engine reads and claims each, `{<prefix>}:wf:inbox` too
 *   for what was written before; dead letters go next to their inbox: `{<prefix>}:wf:inbox:dead`,
 *   `{<prefix>}:inbox:<class>:dead`), `{<prefix>}:wf:releasing` zset of steps being submitted,
 *   `{<prefix>}:runs:index` zset run_id -> start ms (every run still retained, ListWorkflowRuns).
 * - `{<prefix>}:limits` hash class -> per-pool concurrency set at run time; `:limits:ch` its
 *   change channel. Cluster-wide caps, rate limits and pause live in BullMQ's queue meta.
 * - Schedules (src/schedules/): `{<prefix>}:schedules` hash schedule_id -> JSON of the stored
 *   schedule (the durable record); `{<prefix>}:schedules:last` hash schedule_id ->
 *   "<tick ms>\t<task_id>" of its last submission. On a Redis Cluster the last ticks are per
 *   class, `{<prefix>}:schedules:last:<class>` (the class of the schedule's task), written with
 *   the class's keys; a live schedule that has not fired holds "0\t" there. Their ticks come from BullMQ job schedulers
 *   on the internal queue `orq-schedules` (same prefix as the classes' queues; a class name
 *   cannot contain "-", so it never meets a class's queue).
 */
import { MAX_PARTITIONS } from '../../queues/task-classes.js';

export interface Keys {
  readonly prefix: string;
  /** BullMQ's prefix for every class's queue (and the schedule queue). */
  readonly queuePrefix: string;
  /**
   * BullMQ's prefix of the queue of partition `part` of `taskClass`: queuePrefix on a single
   * Redis, `{<prefix>:<class>}:q` on a cluster (`{<prefix>:<class>:<part>}:q` for part > 0).
   */
  queuePrefixOf(taskClass: string, part?: number): string;
  /** How many partitions `taskClass` has: `classes.<name>.partitions` on a cluster, 1 on a single Redis. */
  partitionCount(taskClass: string): number;
  /** 0..partitionCount(taskClass)-1. */
  partitions(taskClass: string): number[];
  /** The partition a task of `taskClass` lives in: taskPartition(taskId, partitionCount(taskClass)). */
  partitionOf(taskClass: string, taskId: string): number;
  /** Which partition of `taskClass` a queue prefix (queuePrefixOf) names; undefined when none. */
  partitionOfQueuePrefix(taskClass: string, queuePrefix: string): number | undefined;
  /** The hash BullMQ keeps for one job (task), in its partition's slot. */
  job(taskClass: string, taskId: string): string;
  /** What every job key of partition `part` of `taskClass` starts with (the job's id follows). */
  jobPrefix(taskClass: string, part: number): string;
  /** The task index bucket holding `taskId`'s entry (see taskIndexBucket). */
  taskIndex(taskId: string): string;
  /** Index bucket number `n` (0..TASK_INDEX_BUCKETS-1). */
  taskIndexBucket(n: number): string;
  /** The previous versions' one-hash index, migrated into the buckets at start. */
  readonly legacyTaskIndex: string;
  /** Held by the one orchestrator migrating the previous index. */
  readonly migrationLock: string;
  /** A class's (partition's) task list: a stream of task ids in submit order. */
  taskList(taskClass: string, part?: number): string;
  /** The previous versions' task list of a class (a zset), migrated at start. */
  legacyTaskList(taskClass: string): string;
  /** Held by the one orchestrator that applies retention at a time. */
  readonly retentionLock: string;
  /** The cancel hash of a single Redis (every class's marks); on a cluster see cancelOf. */
  readonly cancel: string;
  /** The cancel hash of `taskClass`'s tasks: `cancel` on a single Redis, the class's own on a cluster. */
  cancelOf(taskClass: string, part?: number): string;
  readonly cancelChannel: string;
  /**
   * The Redis is a cluster: the task index lives apart from the classes' keys (its buckets spread
   * over TASK_INDEX_SLOTS hash tags), so a submission claims its ids and adds its tasks in two
   * scripts (src/store/tasks/submit-tasks.ts).
   */
  readonly cluster: boolean;
  /** Whether the feeds are one stream per class (a Redis Cluster) or one stream each (a single Redis). */
  readonly feedsPerClass: boolean;
  /**
   * `{<prefix>}:events`: on a single Redis every event; on a cluster the workflow run and step
   * events only (a class's task events are in eventsOf(class)).
   */
  readonly events: string;
  /** `{<prefix>}:results`: on a single Redis every result; on a cluster nothing (see resultsOf). */
  readonly results: string;
  /** The events stream a task of `taskClass` (in partition `part`) writes its events to. */
  eventsOf(taskClass: string, part?: number): string;
  /** The results stream a task of `taskClass` (in partition `part`) writes its results to. */
  resultsOf(taskClass: string, part?: number): string;
  /** Where workflow_run and workflow_step events go (with the run's keys): `{<prefix>}:events`. */
  readonly workflowEvents: string;
  /** Every events stream of these classes (each partition's), the workflow events' included (one on a single Redis). */
  eventStreams(classes: Iterable<string>): FeedStream[];
  /** Every results stream of these classes (each partition's; one on a single Redis). */
  resultStreams(classes: Iterable<string>): FeedStream[];
  /** The events stream a feed calls `name` (FeedStream.name), if it is one. */
  eventsNamed(name: string): string | undefined;
  readonly pools: string;
  pool(poolId: string): string;
  /** Pools that left cleanly: pool_id -> ms it left. */
  readonly poolsGone: string;
  /** Drains requested: pool_id -> "stay" | "exit". */
  readonly poolDrain: string;
  /** Pub/sub: a pool id whenever a drain of it was requested. */
  readonly poolDrainChannel: string;
  /** The counters hash of a single Redis (every class's fields); on a cluster only what was counted before the per-class hashes. */
  readonly counters: string;
  /** The counters hash a task of `taskClass` counts in: `counters` on a single Redis, the class's own on a cluster. */
  countersOf(taskClass: string, part?: number): string;
  /** Every counters hash that holds counts of these classes, `counters` first (one on a single Redis). */
  counterKeys(classes: Iterable<string>): string[];
  /** The Slurm job an attempt submitted, so that a rerun of the attempt re-attaches to it. */
  slurmJob(taskId: string, attempt: number): string;
  /** A workflow's versions: field "latest" and one JSON definition per version number. */
  workflow(name: string): string;
  readonly workflows: string;
  /** A run's own hash; its step states, remaining dependency counts and outcomes. */
  run(runId: string): string;
  runSteps(runId: string): string;
  runDeps(runId: string): string;
  runOutcomes(runId: string): string;
  /**
   * A run's staged releases (single Redis): step -> msgpack of its direct dependents and their
   * tasks, rendered at the run's start, which a pool's finish of the step adds itself
   * (src/store/workflows/staged-steps.ts).
   */
  runStaged(runId: string): string;
  readonly activeRuns: string;
  /** Every retained run: run_id -> start ms (src/workflows/run-list.ts). */
  readonly runIndex: string;
  /** Final results of step tasks, consumed by the workflow engine (consumer group "engine"): every class's on a single Redis. */
  readonly workflowInbox: string;
  /** The workflow inbox a step task of `taskClass` is written to: workflowInbox on a single Redis, the class's own on a cluster. */
  workflowInboxOf(taskClass: string, part?: number): string;
  /** Every workflow inbox the engine reads for these classes, each with its dead-letter stream (one on a single Redis). */
  workflowInboxes(classes: Iterable<string>): InboxStream[];
  /** Inbox entries that could not be applied after `workflows.inboxMaxDeliveries` tries, kept for inspection. */
  readonly workflowInboxDead: string;
  /** "<run_id>\t<step_id>" -> ms: steps released to run whose task is being submitted. */
  readonly releasing: string;
  /** Class -> per-pool concurrency set at run time (SetClassLimits). */
  readonly limits: string;
  /** Pub/sub: a class name whenever its limits changed. */
  readonly limitsChannel: string;
  /** schedule_id -> JSON of the stored schedule (src/schedules/schedule-store.ts). */
  readonly schedules: string;
  /** schedule_id -> "<tick ms>\t<task_id>" of its last submission (a single Redis; on a cluster see schedulesLastOf). */
  readonly schedulesLast: string;
  /**
   * Where the last tick of a schedule of `taskClass`'s tasks is kept: schedulesLast on a single
   * Redis; on a cluster the class's own hash (written with the class's keys), which also holds
   * "0\t" for a live schedule not yet fired (src/schedules/schedule-store.ts).
   */
  schedulesLastOf(taskClass: string, part?: number): string;
  /** BullMQ prefix of the internal queue whose job schedulers tick the schedules. */
  readonly scheduleQueuePrefix: string;
}

/**
 * One stream of a feed as readers see it: `name` is what a cursor calls it (the class whose
 * entries it holds, `<class>.<p>` for partition p > 0 of a partitioned class: classOfStream;
 * "" for the one stream of a single Redis and for the workflow events stream of a cluster), `key`
 * its Redis key.
 */
export interface FeedStream {
  readonly name: string;
  readonly key: string;
}

/** The class whose entries a feed stream called `name` holds ("" for every class's or none). */
export function classOfStream(name: string): string {
  const dot = name.indexOf('.');
  return dot < 0 ? name : name.slice(0, dot);
}

/** A workflow inbox stream (`key`) and the stream its dead letters go to (`dead`), in its slot. */
export interface InboxStream {
  readonly key: string;
  readonly dead: string;
}

export interface KeysOptions {
  /**
   * The Redis is a cluster: each class's keys get a hash tag of their own, `{<prefix>:<class>}`
   * (its queue, jobs, task list, feeds, counters, cancel marks, workflow inbox, schedules' last
   * ticks), so that classes spread over the shards; the task index spreads over TASK_INDEX_SLOTS
   * tags of its own. Known where the connection's URL is (src/config/config.ts feedsPerClass).
   * @default false
   */
  cluster?: boolean;
  /**
   * Partitions per class (`classes.<name>.partitions`), on a cluster only: partition p of a class
   * has the hash tag `{<prefix>:<class>}` for p = 0 (one partition is the layout of an
   * unpartitioned class) and `{<prefix>:<class>:<p>}` above; a task's partition is
   * taskPartition(task_id, N). Ignored on a single Redis (one slot holds everything anyway).
   * @default 1 for every class
   */
  partitions?: ReadonlyMap<string, number>;
}

/**
 * The partition of `taskId` in a class of `n` partitions: the FNV-1a hash of the task index
 * (taskIndexBucket) modulo n, a function of the id alone, so any reader finds a task's keys from
 * its class and id. 4096 buckets are a multiple of every power of two up to 64, so a power of two
 * spreads ids as evenly as the buckets do.
 */
export function taskPartition(taskId: string, n: number): number {
  return n <= 1 ? 0 : taskIndexBucket(taskId) % n;
}

/** Name of the internal queue of schedule ticks (not a task class: class names have no "-"). */
export const SCHEDULE_QUEUE = 'orq-schedules';

/**
 * How many buckets the task index has. Fixed, never configurable: every reader (and a client
 * reading Redis directly) must find an id in the bucket the submit script wrote it to. 4096 keep
 * a bucket under Redis's default hash-max-listpack-entries (128) up to about 350,000 retained
 * tasks; beyond that a bucket turns into a hashtable, which costs memory, never correctness.
 */
export const TASK_INDEX_BUCKETS = 4096;

/**
 * The task index bucket of `taskId`: FNV-1a (32-bit) of the id's UTF-8 bytes, modulo
 * TASK_INDEX_BUCKETS. In Python:
 *
 *   h = 0x811C9DC5
 *   for b in task_id.encode(): h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
 *   bucket = h % 4096
 */
/**
 * On a Redis Cluster, how many hash tags the task index's buckets spread over: bucket n is
 * `{<prefix>:ix:<n % TASK_INDEX_SLOTS>}:ix:<n>`, so that the index, written for every task, is
 * spread over the shards (one slot each) rather than loading one. Fixed for the same reason as
 * TASK_INDEX_BUCKETS. A batch claims its ids with one script per slot it touches, at most this many.
 */
export const TASK_INDEX_SLOTS = 16;

export function taskIndexBucket(taskId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < taskId.length; i++) {
    const c = taskId.charCodeAt(i);
    // Ids are ASCII almost always (one code unit, one byte); anything else goes by its bytes.
    if (c >= 0x80) return fnvBytes(Buffer.from(taskId, 'utf8'));
    h = Math.imul(h ^ c, 0x01000193);
  }
  return (h >>> 0) % TASK_INDEX_BUCKETS;
}

function fnvBytes(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193);
  return (h >>> 0) % TASK_INDEX_BUCKETS;
}

export function keys(prefix: string, opts: KeysOptions = {}): Keys {
  const own = `{${prefix}}`;
  const perClass = opts.cluster === true;
  const counts = perClass ? (opts.partitions ?? new Map<string, number>()) : new Map<string, number>();
  const partitionCount = (taskClass: string) => Math.max(1, Math.min(MAX_PARTITIONS, counts.get(taskClass) ?? 1));
  const partitions = (taskClass: string) => Array.from({ length: partitionCount(taskClass) }, (_, p) => p);
  const partitionOf = (taskClass: string, taskId: string) => taskPartition(taskId, partitionCount(taskClass));
  // The hash tag of a class's (partition's) own keys: `{<prefix>:<class>}` (`{<prefix>:<class>:<p>}`
  // for p > 0) on a cluster, `{<prefix>}` on a single Redis.
  const classOwn = perClass ? (taskClass: string, part = 0) => (part > 0 ? `{${prefix}:${taskClass}:${part}}` : `{${prefix}:${taskClass}}`) : () => own;
  const events = `${own}:events`;
  const results = `${own}:results`;
  const counters = `${own}:counters`;
  const eventsOf = perClass ? (taskClass: string, part = 0) => `${classOwn(taskClass, part)}:events:${taskClass}` : () => events;
  const resultsOf = perClass ? (taskClass: string, part = 0) => `${classOwn(taskClass, part)}:results:${taskClass}` : () => results;
  const cancel = `${own}:cancel`;
  const cancelOf = perClass ? (taskClass: string, part = 0) => `${classOwn(taskClass, part)}:cancel:${taskClass}` : () => cancel;
  const inbox: InboxStream = { key: `${own}:wf:inbox`, dead: `${own}:wf:inbox:dead` };
  const inboxOf = (taskClass: string, part = 0): InboxStream => {
    const key = `${classOwn(taskClass, part)}:inbox:${taskClass}`;
    return { key, dead: `${key}:dead` };
  };
  const countersOf = perClass ? (taskClass: string, part = 0) => `${classOwn(taskClass, part)}:counters:${taskClass}` : () => counters;
  // A feed's name of a class's stream: the class for partition 0, `<class>.<p>` above (feed-cursor.ts).
  const streamName = (taskClass: string, part: number) => (part > 0 ? `${taskClass}.${part}` : taskClass);
  const perPartition = <T>(classes: Iterable<string>, f: (c: string, p: number) => T): T[] => [...classes].flatMap((c) => partitions(c).map((p) => f(c, p)));
  const classStreams = (of: (c: string, p: number) => string) => (classes: Iterable<string>) =>
    perPartition(classes, (c, p) => ({ name: streamName(c, p), key: of(c, p) }));
  const queuePrefixOf = (taskClass: string, part = 0) => `${classOwn(taskClass, part)}:q`;
  // On a cluster the buckets spread over TASK_INDEX_SLOTS hash tags, apart from every class's keys.
  const bucket = perClass ? (n: number) => `{${prefix}:ix:${n % TASK_INDEX_SLOTS}}:ix:${n}` : (n: number) => `${own}:ix:${n}`;
  const workflowStream: FeedStream = { name: '', key: events };
  return Object.freeze({
    prefix,
    cluster: perClass,
    feedsPerClass: perClass,
    eventsOf,
    resultsOf,
    workflowEvents: events,
    eventStreams: (classes: Iterable<string>): FeedStream[] => (perClass ? [workflowStream, ...classStreams(eventsOf)(classes)] : [workflowStream]),
    resultStreams: (classes: Iterable<string>): FeedStream[] => (perClass ? classStreams(resultsOf)(classes) : [{ name: '', key: results }]),
    eventsNamed: (name: string): string | undefined => {
      if (name === '' || !perClass) return name === '' ? events : undefined;
      const m = /^([a-z0-9_]+)(?:\.(\d{1,2}))?$/.exec(name);
      if (!m) return undefined;
      const part = m[2] === undefined ? 0 : Number(m[2]);
      return part < partitionCount(m[1]!) && streamName(m[1]!, part) === name ? eventsOf(m[1]!, part) : undefined;
    },
    queuePrefix: `${own}:q`,
    queuePrefixOf,
    partitionCount,
    partitions,
    partitionOf,
    partitionOfQueuePrefix: (taskClass: string, queuePrefix: string) => partitions(taskClass).find((p) => queuePrefixOf(taskClass, p) === queuePrefix),
    job: (taskClass: string, taskId: string) => `${classOwn(taskClass, partitionOf(taskClass, taskId))}:q:${taskClass}:${taskId}`,
    jobPrefix: (taskClass: string, part: number) => `${classOwn(taskClass, part)}:q:${taskClass}:`,
    taskIndex: (taskId: string) => bucket(taskIndexBucket(taskId)),
    taskIndexBucket: bucket,
    legacyTaskIndex: `${own}:tasks`,
    migrationLock: `${own}:migrate:lock`,
    taskList: (taskClass: string, part = 0) => `${classOwn(taskClass, part)}:list:${taskClass}`,
    legacyTaskList: (taskClass: string) => `${own}:tasks:${taskClass}`,
    retentionLock: `${own}:retention:lock`,
    cancel,
    cancelOf,
    cancelChannel: `${own}:cancel:ch`,
    events,
    results,
    pools: `${own}:pools`,
    pool: (poolId: string) => `${own}:pool:${poolId}`,
    poolsGone: `${own}:pools:gone`,
    poolDrain: `${own}:pools:drain`,
    poolDrainChannel: `${own}:pools:drain:ch`,
    counters,
    countersOf,
    counterKeys: (classes: Iterable<string>): string[] => (perClass ? [counters, ...perPartition(classes, countersOf)] : [counters]),
    slurmJob: (taskId: string, attempt: number) => `${own}:slurm:${taskId}:${attempt}`,
    workflow: (name: string) => `${own}:wfdef:${name}`,
    workflows: `${own}:workflows`,
    run: (runId: string) => `${own}:run:${runId}`,
    runSteps: (runId: string) => `${own}:run:${runId}:steps`,
    runDeps: (runId: string) => `${own}:run:${runId}:deps`,
    runOutcomes: (runId: string) => `${own}:run:${runId}:out`,
    runStaged: (runId: string) => `${own}:run:${runId}:staged`,
    activeRuns: `${own}:runs:active`,
    runIndex: `${own}:runs:index`,
    workflowInbox: inbox.key,
    workflowInboxDead: inbox.dead,
    workflowInboxOf: perClass ? (taskClass: string, part = 0) => inboxOf(taskClass, part).key : () => inbox.key,
    workflowInboxes: (classes: Iterable<string>): InboxStream[] => (perClass ? [inbox, ...perPartition(classes, inboxOf)] : [inbox]),
    releasing: `${own}:wf:releasing`,
    limits: `${own}:limits`,
    limitsChannel: `${own}:limits:ch`,
    schedules: `${own}:schedules`,
    schedulesLast: `${own}:schedules:last`,
    schedulesLastOf: perClass ? (taskClass: string, part = 0) => `${classOwn(taskClass, part)}:schedules:last:${taskClass}` : () => `${own}:schedules:last`,
    scheduleQueuePrefix: `${own}:q`,
  });
}
