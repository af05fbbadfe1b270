import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { type ReplaceScheduleCode } from '../codes.js';
import { storeScript } from '../store-script.js';

type Command = (schedules: string, scheduleId: string, record: string) => Promise<ReplaceScheduleCode>;

/** lua/schedules/replace-schedule.lua: writes `record` as schedule `scheduleId`'s only if it exists. */
export function replaceSchedule(redis: RedisClient, keys: Keys): (scheduleId: string, record: string) => Promise<ReplaceScheduleCode> {
  const run = storeScript<Command>(redis, 'schedules/replace-schedule', { numberOfKeys: 1 });
  return (scheduleId, record) => run(keys.schedules, scheduleId, record);
}
