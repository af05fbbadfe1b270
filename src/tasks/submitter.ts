/**
 * Submission: validate every task, then claim the ids in the cross-class index and add the
 * claimed tasks' jobs to their queues, in one script call for the whole batch.
 *
 * Idempotency: the index maps task_id -> "<class>\t<digest>". Claiming runs in one Lua script
 * for the whole batch, all or nothing: when any id is already taken with different content the
 * script writes nothing and the call fails with already_exists. An id already taken with the
 * same content is "existing": its job is re-added only when it is missing from its queue (it
 * was removed by hand, or by a cancel while queued), which BullMQ's own jobId uniqueness makes
 * safe.
 * A task whose record was removed by retention (queues/ keepCompleted/keepFailed) and is
 * submitted again runs again: idempotency lasts as long as the task is retained.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.js';
import { addDelayedJobLua, addPrioritizedJobLua } from '../store/bullmq/installed-scripts.js';
import { encodeJob, jobOptions } from './job-encoding.js';
import { OrchestratorError, invalidArgument } from '../errors/errors.js';
import type { ExecutorPolicy } from '../executors/executor-policy.js';
import { resolveTask, type ResolvedTask, type TaskSubmission } from './task-spec.js';
import type { TaskQueues } from './task-queues.js';
import { luaCommand } from '../store/lua-command.js';

/** BullMQ queue keys each class of a batch passes to the claim script, after its task list. */
const QUEUE_KEYS = ['marker', 'meta', 'id', 'prioritized', 'delayed', 'completed', 'active', 'events', 'pc'] as const;
/** Values per task in the claim script's ARGV. */
const PER_TASK = 12;

/**
 * Claim task ids, record their submission and add their jobs.
 * KEYS[1] tasks index hash, KEYS[2] events stream, KEYS[3] counters hash,
 * KEYS[4] schedules' last ticks hash, KEYS[5] schedules hash,
 * KEYS[6..] per class of the batch, 10 keys: its task list (zset), then its queue's QUEUE_KEYS
 * ARGV[1] events MAXLEN, then per task 12 values:
 *   task_id, "<class>\t<digest>", class, workflow_id ("" for none), delay_ms,
 *   schedule_id ("" for none), schedule tick ms ("" for none), the KEYS index of its class's task
 *   list, its job as BullMQ's add scripts take it (job-encoding.ts): packed args, data, packed opts,
 *   and for a workflow's step task the KEYS index of its run's steps hash (0 for other tasks)
 * Returns {0, v1, v2, ...}: vi is "" when task i was claimed now, "\ttick" when its schedule tick
 *         already submitted a task (one since forgotten by retention), "\tstopped" when it is a
 *         step task whose step is no longer releasing (its run stopped meanwhile: the task is not
 *         created, so it can never start), else its existing index value;
 *         {1, i, existing} when task i is taken with different content (nothing was written).
 * Claimed tasks get a "submitted" event, count in counters "submitted:<class>", and enter their
 * class's task list scored by Redis's clock (one ZADD: the only per-task cost of listing; one
 * clock for every orchestrator, so a page cursor is never passed by a later submission). A claimed
 * tick becomes its schedule's last tick ("<tick>\t<task_id>") while the schedule exists, in the
 * same script: a tick taken over from a dead orchestrator can never submit a second task.
 * A claimed task's job is added by BullMQ's own addPrioritizedJob (or addDelayedJob, for a delay)
 * code, run as a function in this script: the job is in its queue exactly when its id is claimed.
 */
/** The claim's answer for a task whose schedule tick already submitted one. */
const TICK_DONE = '\ttick';
/** The claim's answer for a step task whose step stopped releasing (its run was cancelled or failed fast). */
const STEP_STOPPED = '\tstopped';

const claimScript = (): string => `
${addPrioritizedJobLua('bullAddPrioritized')}
${addDelayedJobLua('bullAddDelayed')}
local t = redis.call('TIME')
local now = tostring(t[1] * 1000 + math.floor(t[2] / 1000))
local n = (#ARGV - 1) / ${PER_TASK}
local out = {0}
for i = 1, n do
  local b = 1 + (i - 1) * ${PER_TASK}
  local v = redis.call('HGET', KEYS[1], ARGV[b + 1])
  if v and v ~= ARGV[b + 2] then return {1, i, v} end
  if not v and ARGV[b + 7] ~= '' then
    local last = redis.call('HGET', KEYS[4], ARGV[b + 6])
    if last and tonumber(string.match(last, '^(%d+)')) >= tonumber(ARGV[b + 7]) then v = '\ttick' end
  end
  local g = tonumber(ARGV[b + 12])
  if not v and g > 0 and redis.call('HGET', KEYS[g], string.sub(ARGV[b + 1], #ARGV[b + 4] + 2)) ~= 'releasing' then v = '${STEP_STOPPED}' end
  out[i + 1] = v or ''
end
for i = 1, n do
  if out[i + 1] == '' then
    local b = 1 + (i - 1) * ${PER_TASK}
    local c = tonumber(ARGV[b + 8])
    redis.call('HSET', KEYS[1], ARGV[b + 1], ARGV[b + 2])
    redis.call('ZADD', KEYS[c], now, ARGV[b + 1])
    if ARGV[b + 7] ~= '' and redis.call('HEXISTS', KEYS[5], ARGV[b + 6]) == 1 then
      redis.call('HSET', KEYS[4], ARGV[b + 6], ARGV[b + 7] .. '\t' .. ARGV[b + 1])
    end
    local ev = {'type', 'submitted', 'task_id', ARGV[b + 1], 'class', ARGV[b + 3], 'attempt', '0', 'at', now}
    if ARGV[b + 4] ~= '' then table.insert(ev, 'workflow_id'); table.insert(ev, ARGV[b + 4]) end
    if ARGV[b + 5] ~= '0' then table.insert(ev, 'detail'); table.insert(ev, 'delay_ms=' .. ARGV[b + 5]) end
    if ARGV[b + 6] ~= '' then table.insert(ev, 'schedule_id'); table.insert(ev, ARGV[b + 6]) end
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', unpack(ev))
    redis.call('HINCRBY', KEYS[3], 'submitted:' .. ARGV[b + 3], 1)
    local job = {ARGV[b + 9], ARGV[b + 10], ARGV[b + 11]}
    if ARGV[b + 5] ~= '0' then
      bullAddDelayed({KEYS[c + 1], KEYS[c + 2], KEYS[c + 3], KEYS[c + 5], KEYS[c + 6], KEYS[c + 8]}, job)
    else
      bullAddPrioritized({KEYS[c + 1], KEYS[c + 2], KEYS[c + 3], KEYS[c + 4], KEYS[c + 5], KEYS[c + 6], KEYS[c + 7], KEYS[c + 8], KEYS[c + 9]}, job)
    end
  end
end
return out
`;

export interface SubmitterOptions {
  redis: Redis;
  keys: Keys;
  queues: TaskQueues;
  maxPayloadBytes: number;
  maxBatchSize: number;
  eventsMaxLen: number;
  /** What executors may do. @default DEFAULT_EXECUTOR_POLICY */
  executors?: ExecutorPolicy;
}

export interface SubmitOutcome {
  taskId: string;
  taskClass: string;
  /** False when the task already existed with the same content. */
  created: boolean;
  /** Whether it waits out a delay before it can run. */
  scheduled: boolean;
}

/** Keys and ARGV go as arrays (see src/store/lua-command.ts): a batch of 10,000 tasks is 120,000 arguments. */
type ClaimCommand = (numKeys: number, keys: string[], argv: (string | number | Buffer)[]) => Promise<(string | number)[]>;

export class TaskSubmitter {
  private readonly claim: ClaimCommand;

  constructor(private readonly opts: SubmitterOptions) {
    this.claim = luaCommand<ClaimCommand>(opts.redis, claimScript());
  }

  /** Most tasks one submitMany takes (grpc.maxBatchSize). */
  get maxBatchSize(): number {
    return this.opts.maxBatchSize;
  }

  async submit(task: TaskSubmission): Promise<SubmitOutcome> {
    return (await this.submitPrepared([this.prepare(task, 'task')]))[0]!;
  }

  /** Validates all, then enqueues all; nothing is enqueued when any task is invalid. */
  async submitMany(tasks: TaskSubmission[]): Promise<SubmitOutcome[]> {
    if (tasks.length === 0) throw invalidArgument('tasks', 'must not be empty');
    if (tasks.length > this.opts.maxBatchSize) {
      throw new OrchestratorError('resource_exhausted', `tasks: ${tasks.length} tasks is over the batch limit of ${this.opts.maxBatchSize}`, {
        field: 'tasks',
      });
    }
    return this.submitPrepared(tasks.map((t, i) => this.prepare(t, `tasks[${i}]`)));
  }

  /**
   * Validates one task and applies its class defaults; throws invalid_argument naming `field`.
   * A task of a client (or a schedule's) must not carry a workflow id: only the workflow engine's
   * step tasks do (prepareStep), and their outcomes advance the run.
   */
  prepare(t: TaskSubmission, field: string): ResolvedTask {
    return resolveTask(t, { classes: this.opts.queues.classes, maxPayloadBytes: this.opts.maxPayloadBytes, field, executors: this.opts.executors });
  }

  /** prepare() for the workflow engine's step tasks, which carry their run's id as workflowId. */
  prepareStep(t: TaskSubmission, field: string): ResolvedTask {
    return resolveTask(t, {
      classes: this.opts.queues.classes,
      maxPayloadBytes: this.opts.maxPayloadBytes,
      field,
      executors: this.opts.executors,
      workflowStep: true,
    });
  }

  /** Claims and enqueues tasks already validated by prepare(). */
  async submitPrepared(all: ResolvedTask[]): Promise<SubmitOutcome[]> {
    // The same id twice in one batch: fine when identical (kept once), an error otherwise.
    const byId = new Map<string, ResolvedTask>();
    const unique: ResolvedTask[] = [];
    all.forEach((t, i) => {
      const prev = byId.get(t.taskId);
      if (!prev) {
        byId.set(t.taskId, t);
        unique.push(t);
      } else if (prev.taskClass !== t.taskClass || prev.digest !== t.digest) {
        throw invalidArgument(`tasks[${i}].task_id`, `"${t.taskId}" appears twice in the batch with different content`);
      }
    });

    const k = this.opts.keys;
    const keyList = [k.tasks, k.events, k.counters, k.schedulesLast, k.schedules];
    const listIndex = new Map<string, number>();
    const stepsIndex = new Map<string, number>();
    const argv: (string | number | Buffer)[] = [this.opts.eventsMaxLen];
    for (const t of unique) {
      const queue = this.opts.queues.get(t.taskClass);
      let li = listIndex.get(t.taskClass);
      if (li === undefined) {
        li = keyList.push(k.taskList(t.taskClass));
        for (const name of QUEUE_KEYS) keyList.push(queue.keys[name]!);
        listIndex.set(t.taskClass, li);
      }
      const job = encodeJob(queue, t);
      const wf = t.data.workflowId;
      let si = 0;
      if (wf) {
        si = stepsIndex.get(wf) ?? keyList.push(k.runSteps(wf));
        stepsIndex.set(wf, si);
      }
      argv.push(t.taskId, `${t.taskClass}\t${t.digest}`, t.taskClass, wf ?? '', t.delayMs, t.data.scheduleId ?? '', t.scheduleTickMs ?? '', li);
      argv.push(job.args, job.data, job.opts, si);
    }
    const reply = await this.claim(keyList.length, keyList, argv);
    if (reply[0] === 1) {
      const t = unique[Number(reply[1]) - 1]!;
      const [cls] = String(reply[2]).split('\t');
      throw new OrchestratorError(
        'already_exists',
        `task_id: "${t.taskId}" already exists${cls === t.taskClass ? '' : ` in class ${cls}`} with different content`,
        { field: 'task_id' },
      );
    }

    const created = new Set<string>();
    const existing: ResolvedTask[] = [];
    unique.forEach((t, i) => {
      if (reply[i + 1] === '') created.add(t.taskId);
      else if (reply[i + 1] !== TICK_DONE && reply[i + 1] !== STEP_STOPPED) existing.push(t);
    });
    // Claimed tasks were added by the claim; an existing task whose job is missing from its
    // queue is added again here.
    await this.enqueue(await this.missingJobs(existing));

    return all.map((t) => ({ taskId: t.taskId, taskClass: t.taskClass, created: created.has(t.taskId), scheduled: t.delayMs > 0 }));
  }

  /** Of tasks already in the index, those whose job is missing from their queue. */
  private async missingJobs(tasks: ResolvedTask[]): Promise<ResolvedTask[]> {
    if (tasks.length === 0) return [];
    const pipe = this.opts.redis.pipeline();
    for (const t of tasks) pipe.exists(this.opts.keys.job(t.taskClass, t.taskId));
    const res = (await pipe.exec()) ?? [];
    return tasks.filter((_, i) => res[i]?.[1] === 0);
  }

  private async enqueue(tasks: ResolvedTask[]): Promise<void> {
    const byClass = new Map<string, ResolvedTask[]>();
    for (const t of tasks) {
      const list = byClass.get(t.taskClass);
      if (list) list.push(t);
      else byClass.set(t.taskClass, [t]);
    }
    const job = (t: ResolvedTask) => ({ name: t.jobName, data: t.data, opts: jobOptions(t) });
    await Promise.all(
      [...byClass].map(([cls, list]) => {
        const queue = this.opts.queues.get(cls);
        // addBulk wraps its jobs in a MULTI; one job goes cheaper on its own.
        if (list.length === 1) {
          const { name, data, opts } = job(list[0]!);
          return queue.add(name, data, opts);
        }
        return queue.addBulk(list.map(job));
      }),
    );
  }
}
