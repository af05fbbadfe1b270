/**
 * The lifecycle events of one task, for the dashboard's task page: read from the events stream
 * over the task's lifetime rather than from an index of its own (no write per task on the hot
 * path). Stream entry ids are Redis's clock in milliseconds, and so is the task's submit time
 * (its task-list score), so the read starts at the submit time and goes forward.
 *
 * Bounded: at most `maxScannedEntries` entries are looked at per call, in chunks, and the read
 * stops at `untilMs` (the finish time plus a margin for the pool's clock). A busy stream can hold
 * more than that between a task's submit and its end; the answer then says it is incomplete.
 * Entries trimmed by the stream's MAXLEN are gone: the answer cannot show them either.
 *
 * The stream holds whatever anyone who can write to Redis put there: the answer keeps at most
 * `maxEvents` events of the task and `maxTotalChars` of them as JSON (then says it is
 * incomplete), and cuts every text field of an event at `maxDetailChars`, so a flood of entries
 * naming one task, or one huge field, does not become a huge page.
 */
import type { RedisClient } from '../redis/redis-client.js';
import { parseEvent, type RawEntry, type TaskEventRecord } from '../store/codecs/feed-format.js';

export interface TaskEventHistoryOptions {
  redis: RedisClient;
  /** The events stream task `taskId` of this class writes to (src/store/keys.ts eventsOf of its partition). */
  eventsKeyOf: (taskClass: string, taskId: string) => string;
  /** Most entries one call looks at. @default 5000 */
  maxScannedEntries?: number;
  /** Most characters of an event's detail (and of each of its other text fields) handed out (a page, not a feed). @default 4096 */
  maxDetailChars?: number;
  /** Most events of the task handed out. @default 1000 */
  maxEvents?: number;
  /** Most characters of the events, as JSON, handed out in one answer. @default 512 KiB */
  maxTotalChars?: number;
}

export interface TaskEventEntry extends TaskEventRecord {
  /** The stream entry id (a cursor for StreamEvents). */
  id: string;
}

export interface TaskEventHistory {
  events: TaskEventEntry[];
  /** True when the scan stopped at its bound before reaching the task's end. */
  incomplete: boolean;
}

const CHUNK = 500;

/** The text fields of an event, each cut at maxDetailChars. */
const TEXT_FIELDS = ['taskClass', 'workflowId', 'workerId', 'detail', 'stepId', 'state', 'scheduleId', 'undeliverable'] as const;

export class TaskEventHistoryReader {
  private readonly maxScanned: number;
  private readonly maxDetail: number;
  private readonly maxEvents: number;
  private readonly maxTotal: number;

  constructor(private readonly opts: TaskEventHistoryOptions) {
    this.maxScanned = opts.maxScannedEntries ?? 5_000;
    this.maxDetail = opts.maxDetailChars ?? 4096;
    this.maxEvents = opts.maxEvents ?? 1000;
    this.maxTotal = opts.maxTotalChars ?? 512 * 1024;
  }

  private cut(e: TaskEventRecord): void {
    if (e.type.length > 64) e.type = `${e.type.slice(0, 64)}… (cut)` as TaskEventRecord['type'];
    for (const f of TEXT_FIELDS) {
      const v = e[f];
      if (typeof v === 'string' && v.length > this.maxDetail) e[f] = `${v.slice(0, this.maxDetail)}… (cut)`;
    }
  }

  /** Events of `taskId` (of `taskClass`: only its class's stream is read) from `sinceMs` to `untilMs` (0: up to now). */
  async read(taskId: string, taskClass: string, sinceMs: number, untilMs: number): Promise<TaskEventHistory> {
    const key = this.opts.eventsKeyOf(taskClass, taskId);
    const events: TaskEventEntry[] = [];
    // Both times come from Redis (a task-list score, a job's finishedOn): anything but a
    // millisecond time XRANGE takes ("1e+300", NaN) reads from the start or to the end instead.
    const ms = (t: number) => (Number.isSafeInteger(t) && t > 0 ? t : 0);
    const end = ms(untilMs) > 0 ? String(ms(untilMs)) : '+';
    let start = String(ms(sinceMs));
    let scanned = 0;
    let chars = 0;
    while (scanned < this.maxScanned) {
      const count = Math.min(CHUNK, this.maxScanned - scanned);
      const entries = (await this.opts.redis.xrange(key, start, end, 'COUNT', count)) as RawEntry[];
      scanned += entries.length;
      for (const [id, fields] of entries) {
        // Cheap check before parsing: most entries belong to other tasks.
        if (!fields.includes(taskId)) continue;
        const e = parseEvent(fields);
        if (e.taskId !== taskId) continue;
        this.cut(e);
        const event = { id, ...e };
        chars += JSON.stringify(event).length;
        if (chars > this.maxTotal) return { events, incomplete: true };
        events.push(event);
        if (events.length >= this.maxEvents) return { events, incomplete: true };
      }
      if (entries.length < count) return { events, incomplete: false };
      start = `(${entries[entries.length - 1]![0]}`;
    }
    return { events, incomplete: true };
  }
}
