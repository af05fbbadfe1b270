/**
 * Where task logs live in Redis: BullMQ's job log list of the task's job (format and why in
 * task-log-format.ts). Pools append (workers/attempt-log.ts); the front end reads
 * (task-logs.ts).
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.js';
import { luaCommand } from '../store/lua-command.js';

/**
 * KEYS[1] the job's hash, KEYS[2] its log list (`<job key>:logs`).
 * ARGV: the entries, appended in order.
 * Returns the list's new length, or -1 when the job is gone (a cancel removed it while queued,
 * retention or PurgeTasks removed it): then nothing is written, so no log list outlives its task.
 * RPUSH goes in slices: `unpack` of thousands of values overflows Lua's C stack.
 */
const APPEND_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = 0
for i = 1, #ARGV, 1000 do
  n = redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return n`;

type Append = (jobKey: string, logKey: string, entries: readonly string[]) => Promise<number>;

export class TaskLogStore {
  private readonly append: Append;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {
    this.append = luaCommand<Append>(redis, APPEND_SCRIPT, 2);
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
