/**
 * Structured logging (pino). Components get a child logger scoped with `component`; task code
 * adds taskId, taskClass and attempt. Never log tokens or whole payloads.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...base }, timestamp: pino.stdTimeFunctions.isoTime });
}
