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
    if (await this.createRecord(spec.scheduleId, JSON.stringify(stored))) return { stored, created: true };
    const existing = await this.find(spec.scheduleId);
    // Deleted between the two calls: the caller may simply try again.
    if (!existing) throw new OrchestratorError('unavailable', `schedule_id: "${spec.scheduleId}" changed during the call; try again`, { retryable: true });
    if (!sameSpec(existing.spec, spec)) {
      throw new OrchestratorError('already_exists', `${field}: schedule "${spec.scheduleId}" already exists with a different spec`, { field });
    }
    return { stored: existing, created: false };
  }

  /** Replaces an existing schedule's spec, keeping its creation time; not_found when unknown. */
  async replace(spec: ScheduleSpec, field = 'schedule_id', nowMs = Date.now(), written?: WrittenKeys): Promise<StoredSchedule> {
    const existing = await this.get(spec.scheduleId, field);
    const stored: StoredSchedule = { spec, createdAtMs: existing.createdAtMs, updatedAtMs: nowMs };
    written?.note(this.opts.writes ?? this.opts.redis, this.opts.keys.schedules);
    if ((await this.replaceRecord(spec.scheduleId, JSON.stringify(stored))) === ReplaceScheduleCode.NotFound) throw notFound(spec.scheduleId, field);
    return stored;
  }

  /** Removes a schedule and its last-run record; not_found when unknown. */
  async delete(id: string, written?: WrittenKeys): Promise<void> {
    written?.note(this.opts.writes ?? this.opts.redis, this.opts.keys.schedules);
    if (!(await this.deleteRecord(id))) throw notFound(id);
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

  /** The last submission of each of `ids` (absent for none yet). */
  async lastRuns(ids: string[]): Promise<Map<string, { tickMs: number; taskId: string }>> {
    const out = new Map<string, { tickMs: number; taskId: string }>();
    if (ids.length === 0) return out;
    const values = await this.opts.redis.hmget(this.opts.keys.schedulesLast, ...ids);
    ids.forEach((id, i) => {
      const v = values[i];
      if (!v) return;
      const tab = v.indexOf('\t');
      out.set(id, { tickMs: Number(v.slice(0, tab)), taskId: v.slice(tab + 1) });
    });
    return out;
  }
}
