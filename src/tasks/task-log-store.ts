/**
 * Where task logs live in Redis: BullMQ's job log list of the task's job (format and why in
 * task-log-format.ts). Pools append (workers/attempt-log.ts); the front end reads
 * (task-logs.ts).
 */
import type { RedisClient } from '../redis/redis-client.js';
import type { Keys } from '../store/keys.js';
import { appendLog } from '../store/tasks/append-log.js';

/** lua/tasks/append-log.lua: appends only while the job exists, so no log list outlives its task. */

type Append = (jobKey: string, logKey: string, entries: readonly string[]) => Promise<number>;

export class TaskLogStore {
  private readonly append: Append;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {
    this.append = appendLog(redis);
  }

  /** BullMQ's log list of a task's job (what `job.log()` writes and Bull Board's Logs tab reads). */
  logKey(taskClass: string, taskId: string): string {
    return `${this.keys.job(taskClass, taskId)}:logs`;
  }

  /** Appends entries to a task's log; false when the task's job is gone (nothing written). */
  async write(taskClass: string, taskId: string, entries: readonly string[]): Promise<boolean> {
    if (entries.length === 0) return true;
    return (await this.append(this.keys.job(taskClass, taskId), this.logKey(taskClass, taskId), entries)) >= 0;
  }

  /** Entries from index `start` (0-based) to the end, at most `max` of them. */
  async range(taskClass: string, taskId: string, start: number, max: number): Promise<string[]> {
    return this.redis.lrange(this.logKey(taskClass, taskId), start, start + max - 1);
  }

  async length(taskClass: string, taskId: string): Promise<number> {
    return this.redis.llen(this.logKey(taskClass, taskId));
  }
}
