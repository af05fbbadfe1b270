/**
 * The durable record of schedules: one hash, schedule_id -> JSON of the StoredSchedule. This,
 * not BullMQ's job schedulers, is the source of truth: the runner reads the spec from here at
 * every tick, and every orchestrator re-creates missing job schedulers from here when it starts.
 */
import type { RedisClient } from '../redis/redis-client.js';
import type { Keys } from '../store/keys.js';
import type { WrittenKeys } from '../redis/replica-wait.js';
import { OrchestratorError } from '../errors/errors.js';
import { canonicalJson, type ScheduleSpec, type StoredSchedule } from './schedule-spec.js';
import { ReplaceScheduleCode } from '../store/codes.js';
import { createSchedule } from '../store/schedules/create-schedule.js';
import { deleteSchedule } from '../store/schedules/delete-schedule.js';
import { replaceSchedule } from '../store/schedules/replace-schedule.js';
import { markScheduleLive, moveScheduleTick, NO_TICK_YET } from '../store/schedules/schedule-ticks.js';

export interface ScheduleStoreOptions {
  redis: RedisClient;
  keys: Keys;
  /** The connection creates, updates and deletes write on (src/redis/write-connections.ts). @default redis */
  writes?: RedisClient;
}

export const sameSpec = (a: ScheduleSpec, b: ScheduleSpec): boolean => canonicalJson(a) === canonicalJson(b);

/** `field`: where the request names the schedule (`schedule_id`, or `schedule.schedule_id` in a spec). */
const notFound = (id: string, field = 'schedule_id') => new OrchestratorError('not_found', `${field}: no schedule "${id}"`, { field });

export class ScheduleStore {
  private readonly createRecord: ReturnType<typeof createSchedule>;
  private readonly replaceRecord: ReturnType<typeof replaceSchedule>;
  private readonly deleteRecord: ReturnType<typeof deleteSchedule>;

  constructor(private readonly opts: ScheduleStoreOptions) {
    const writes = opts.writes ?? opts.redis;
    this.createRecord = createSchedule(writes, opts.keys);
    this.replaceRecord = replaceSchedule(writes, opts.keys);
    this.deleteRecord = deleteSchedule(writes, opts.keys);
  }

  /**
   * Stores a new schedule. An existing one with the same spec is returned as it is (created
   * false); one with a different spec is already_exists.
   */
  async create(spec: ScheduleSpec, field = 'schedule_id', nowMs = Date.now(), written?: WrittenKeys): Promise<{ stored: StoredSchedule; created: boolean }> {
    const stored: StoredSchedule = { spec, createdAtMs: nowMs, updatedAtMs: nowMs };
    written?.note(this.opts.writes ?? this.opts.redis, this.opts.keys.schedules);
    if (await this.createRecord(spec.scheduleId, JSON.stringify(stored))) {
      await this.seedTicks([stored], written);
      return { stored, created: true };
    }
    const existing = await this.find(spec.scheduleId);
    // Deleted between the two calls: the caller may simply try again.
    if (!existing) throw new OrchestratorError('unavailable', `schedule_id: "${spec.scheduleId}" changed during the call; try again`, { retryable: true });
    if (!sameSpec(existing.spec, spec)) {
      throw new OrchestratorError('already_exists', `${field}: schedule "${spec.scheduleId}" already exists with a different spec`, { field });
    }
    await this.seedTicks([existing], written);
    return { stored: existing, created: false };
  }

  /** Replaces an existing schedule's spec, keeping its creation time; not_found when unknown. */
  async replace(spec: ScheduleSpec, field = 'schedule_id', nowMs = Date.now(), written?: WrittenKeys): Promise<StoredSchedule> {
    const existing = await this.get(spec.scheduleId, field);
    const stored: StoredSchedule = { spec, createdAtMs: existing.createdAtMs, updatedAtMs: nowMs };
    written?.note(this.opts.writes ?? this.opts.redis, this.opts.keys.schedules);
    if ((await this.replaceRecord(spec.scheduleId, JSON.stringify(stored))) === ReplaceScheduleCode.NotFound) throw notFound(spec.scheduleId, field);
    await this.moveTicks(spec.scheduleId, existing.spec.task.taskClass, spec.task.taskClass, written);
    await this.seedTicks([stored], written);
    return stored;
  }

  /** Removes a schedule and its last-run record; not_found when unknown. */
  async delete(id: string, written?: WrittenKeys): Promise<void> {
    const { keys } = this.opts;
    written?.note(this.opts.writes ?? this.opts.redis, keys.schedules);
    // On a cluster the last tick is in the slot of the schedule's class (each partition's), read from its record.
    const lastKeys = keys.cluster ? this.lastKeysOf((await this.get(id)).spec.task.taskClass) : [keys.schedulesLast];
    if (keys.cluster) for (const k of lastKeys) written?.note(this.opts.writes ?? this.opts.redis, k);
    if (!(await this.deleteRecord(id, lastKeys))) throw notFound(id);
  }

  /**
   * The last-tick hashes of a class: one per partition. A tick is recorded with its task, in the
   * slot of the task's partition, so a schedule of a partitioned class has its ticks spread over
   * them; its last run is the latest of them (lastRuns).
   */
  private lastKeysOf(taskClass: string): string[] {
    const { keys } = this.opts;
    return keys.partitions(taskClass).map((p) => keys.schedulesLastOf(taskClass, p));
  }

  /**
   * On a Redis Cluster, marks each schedule live in its class's last-tick hash ("0\t" unless it
   * has a tick there): the submit script records a tick only for a schedule found there (on a
   * single Redis it looks in the schedules hash itself). Called on every create and update, and
   * by the runner's reconcile, which repairs what a crash between the record and the mark left.
   */
  async seedTicks(schedules: readonly StoredSchedule[], written?: WrittenKeys): Promise<void> {
    const { keys } = this.opts;
    if (!keys.cluster || schedules.length === 0) return;
    const writes = this.opts.writes ?? this.opts.redis;
    const mark = markScheduleLive(writes);
    await Promise.all(
      schedules.flatMap((s) =>
        this.lastKeysOf(s.spec.task.taskClass).map((key) => {
          written?.note(writes, key);
          return mark(key, s.spec.scheduleId);
        }),
      ),
    );
  }

  /** On a cluster, a schedule whose task changed class takes its last tick to the new class's hash. */
  private async moveTicks(id: string, from: string, to: string, written?: WrittenKeys): Promise<void> {
    const { keys } = this.opts;
    if (!keys.cluster || from === to) return;
    const writes = this.opts.writes ?? this.opts.redis;
    const [fromKeys, toKeys] = [this.lastKeysOf(from), this.lastKeysOf(to)];
    for (const k of toKeys) written?.note(writes, k);
    // Each partition's tick to a partition of the new class: a lower bound there, as ticks are ids too.
    await Promise.all(fromKeys.map((k, p) => moveScheduleTick(writes)(k, toKeys[p % toKeys.length]!, id)));
  }

  async find(id: string): Promise<StoredSchedule | undefined> {
    const json = await this.opts.redis.hget(this.opts.keys.schedules, id);
    return json ? (JSON.parse(json) as StoredSchedule) : undefined;
  }

  async get(id: string, field = 'schedule_id'): Promise<StoredSchedule> {
    const s = await this.find(id);
    if (!s) throw notFound(id, field);
    return s;
  }

  /** Every schedule, by id. */
  async list(): Promise<StoredSchedule[]> {
    const all = await this.opts.redis.hgetall(this.opts.keys.schedules);
    return Object.keys(all)
      .sort()
      .map((id) => JSON.parse(all[id]!) as StoredSchedule);
  }

  /** The last submission of each of `schedules` (absent for none yet), one HMGET per hash they are kept in. */
  async lastRuns(schedules: readonly StoredSchedule[]): Promise<Map<string, { tickMs: number; taskId: string }>> {
    const out = new Map<string, { tickMs: number; taskId: string }>();
    const { keys, redis } = this.opts;
    const byKey = new Map<string, StoredSchedule[]>();
    for (const s of schedules) {
      const lastKeys = keys.cluster ? this.lastKeysOf(s.spec.task.taskClass) : [keys.schedulesLast];
      for (const k of lastKeys) byKey.set(k, [...(byKey.get(k) ?? []), s]);
    }
    await Promise.all(
      [...byKey].map(async ([key, group]) => {
        const ids = group.map((s) => s.spec.scheduleId);
        const values = await redis.hmget(key, ...ids);
        ids.forEach((id, i) => {
          const v = values[i];
          if (!v || v === NO_TICK_YET) return;
          const tab = v.indexOf('\t');
          const tickMs = Number(v.slice(0, tab));
          // A partitioned class's ticks are spread over its partitions' hashes: the latest wins.
          if ((out.get(id)?.tickMs ?? -1) < tickMs) out.set(id, { tickMs, taskId: v.slice(tab + 1) });
        });
      }),
    );
    return out;
  }
}
